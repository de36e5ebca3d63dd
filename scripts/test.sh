#!/usr/bin/env bash
# Sets up the locked environment and runs the default test suite (no slow/gpu tests).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
uv run ruff check .
uv run ruff format --check .
uv run mypy
exec uv run pytest "$@"
