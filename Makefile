# Two commands: `make run` serves everything on http://localhost:8000, `make test` runs the suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: run test bench bench-ingest bench-live bench-10m install migrate lint schema clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

.env:
	@echo "SECRET_KEY=$$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env
	@echo "ENCRYPTION_MASTER_KEY=$$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')" >> .env
	@echo "DEBUG=1" >> .env
	@echo "Wrote .env (local settings; see README for the variables)."

migrate: install .env
	$(PY) scripts/ensure_database.py
	$(PY) manage.py migrate_schemas --executor=standard -v 0
	$(PY) manage.py collectstatic --noinput -v 0

run: migrate
	$(PY) manage.py bootstrap_demo --port $(PORT)
	exec scripts/run.sh

test: install .env
	$(PY) -m pytest

bench: migrate
	$(PY) bench/run.py

bench-ingest: migrate
	$(PY) bench/run.py --ingest-only

bench-live: migrate
	$(PY) bench/run.py --live-only

bench-10m: migrate
	$(PY) bench/run.py --events 10000000

lint: install
	$(VENV)/bin/ruff check .

schema: install
	$(PY) manage.py spectacular --file openapi.yaml --validate

clean:
	rm -rf $(VENV) .pytest_cache .coverage htmlcov test-artifacts
