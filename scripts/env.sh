# Sourced by the scripts: telemetry off, uv present, the locked environment in place.
export DO_NOT_TRACK=true MLFLOW_DISABLE_TELEMETRY=true PREFECT_SERVER_ANALYTICS_ENABLED=false
export PYTHONUNBUFFERED=1
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
# Installed packages come with their bytecode compiled (as in docker/worker.Dockerfile): every
# process of the pipeline (each DVC stage, each test subprocess) then reads it instead of
# compiling torch, MLflow and Prefect again where PYTHONDONTWRITEBYTECODE keeps Python from
# caching it (10-15 s per process on a loaded 2-core VM). The first sync takes about a minute more.
export UV_COMPILE_BYTECODE=1
uv sync --frozen --quiet
