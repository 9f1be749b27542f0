#!/usr/bin/env bash
# Serve the web/WebSocket process, the Celery worker and Celery beat until Ctrl-C, then stop them all.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PORT=${PORT:-8000}
WEB_WORKERS=${WEB_WORKERS:-4}
STATE=${TMPDIR:-/tmp}/auditlog-$(id -u)
mkdir -p "$STATE"

pids=()
stop() {
  trap - INT TERM EXIT
  echo "Stopping..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

"$VENV/bin/uvicorn" auditlog.asgi:application --host 0.0.0.0 --port "$PORT" --workers "$WEB_WORKERS" \
  --no-access-log --log-level warning --lifespan off --ws-per-message-deflate false &
pids+=($!)
"$VENV/bin/celery" -A auditlog worker --loglevel "${CELERY_LOG_LEVEL:-warning}" --concurrency 2 &
pids+=($!)
"$VENV/bin/celery" -A auditlog beat --loglevel "${CELERY_LOG_LEVEL:-warning}" --schedule "$STATE/celerybeat-schedule" &
pids+=($!)

echo "Serving on http://localhost:$PORT (HTTP and WebSocket); Ctrl-C stops everything."
# Exit (and stop the others) as soon as any one of them dies.
wait -n "${pids[@]}"
