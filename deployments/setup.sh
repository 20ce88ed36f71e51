#!/usr/bin/env bash
# Create the process work pool and deploy everything in prefect.yaml to the Prefect server that
# PREFECT_API_URL points at (default: http://127.0.0.1:4200/api, a `prefect server start`).
# Then start a worker from the repo root:  .venv/bin/prefect worker start --pool feedcheck
set -euo pipefail
cd "$(dirname "$0")/.."
PREFECT=${PREFECT:-.venv/bin/prefect}
export PREFECT_API_URL=${PREFECT_API_URL:-http://127.0.0.1:4200/api}
POOL=feedcheck

if ! "$PREFECT" work-pool inspect "$POOL" >/dev/null 2>&1; then
    "$PREFECT" work-pool create "$POOL" --type process
fi
"$PREFECT" --no-prompt deploy --all
echo "deployed; start a worker with: $PREFECT worker start --pool $POOL --install-policy never"
