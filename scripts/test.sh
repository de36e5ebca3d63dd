#!/usr/bin/env bash
# Sets up the locked environment and runs the default test suite (no slow/gpu tests).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
uv run ruff check .
uv run ruff format --check .
# The type check runs beside the tests (the test processes leave a core partly idle while they
# wait for servers and subprocesses); its verdict is printed, and counts, when the tests end.
mypy_log=$(mktemp)
uv run mypy > "$mypy_log" 2>&1 &
mypy_pid=$!
# Two test processes: every test runs torch on GMS_TEST_THREADS (default 1) threads, so one
# process leaves the second core of a 2-core machine idle. A module stays on one process, and the
# modules that use Prefect's test harness share one (tests/conftest.py's scheduler).
tests=0
uv run pytest -n 2 --dist loadfile "$@" || tests=$?
mypy=0
wait "$mypy_pid" || mypy=$?
echo "mypy:"
cat "$mypy_log"
rm -f "$mypy_log"
if [ "$mypy" -ne 0 ]; then
  echo "mypy failed (exit $mypy)" >&2
  exit "$mypy"
fi
exit "$tests"
