#!/usr/bin/env bash
# Sets up the locked environment and runs the main job: the whole study at toy scale on the
# built-in demo data, on CPU, into a local MLflow store under runs/ (no server to start).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
exec uv run gms study "$@"
