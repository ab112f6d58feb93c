#!/usr/bin/env bash
# Runs the whole suite. pytest's exit code is the verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_THREAD_LIMIT=1
mkdir -p tests/artifacts
exec .venv/bin/pytest -q "$@"
