#!/usr/bin/env bash
# Sets up the locked environment and runs the default test suite (no slow/gpu tests).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
uv run ruff check .
uv run ruff format --check .
uv run mypy
# Two test processes: every test runs torch on GMS_TEST_THREADS (default 1) threads, so one
# process leaves the second core of a 2-core machine idle. A module stays on one process, and the
# modules that use Prefect's test harness share one (tests/conftest.py's scheduler).
exec uv run pytest -n 2 --dist loadfile "$@"
