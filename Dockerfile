# One image for every process of the service (web, websocket, worker, beat).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Build-only secrets: collectstatic loads the settings, which require both (the real ones come at run time).
RUN SECRET_KEY=build-only \
    ENCRYPTION_MASTER_KEY=$(python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())') \
    python manage.py collectstatic --noinput -v 0

RUN useradd --system --uid 1000 auditlog && chown -R auditlog /app
USER auditlog

EXPOSE 8000
CMD ["uvicorn", "auditlog.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "4", "--no-access-log", "--log-level", "warning", "--lifespan", "off", "--ws-per-message-deflate", "false"]
