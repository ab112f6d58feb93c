#!/usr/bin/env bash
# Runs the whole suite. pytest's exit code is the verdict.
# Two workers by default (LETTERBRIDGE_TEST_WORKERS=0 runs in one process): many end-to-end tests
# spend their time waiting on servers, workers and settle windows, and the other core fills it.
# --dist loadfile keeps each module on one worker, so module fixtures are built once.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_THREAD_LIMIT=1
mkdir -p tests/artifacts
workers="${LETTERBRIDGE_TEST_WORKERS:-2}"
if [ "$workers" = 0 ]; then
  exec .venv/bin/pytest -q "$@"
fi
exec .venv/bin/pytest -q -n "$workers" --dist loadfile "$@"
