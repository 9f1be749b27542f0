"""The project's benchmark harness (run it with `make bench`; see bench/run.py)."""
