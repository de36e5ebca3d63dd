# GPU worker for the `gpu` work pool: the gms project from uv.lock (with TensorRT) on an NVIDIA
# TensorRT base, running one Prefect process worker per visible GPU (see worker-entrypoint.sh).
#
# Build from the repository root (BuildKit reads worker.Dockerfile.dockerignore beside this file):
#   docker build -f docker/worker.Dockerfile -t gms-worker:0.1.0 .
# The host needs an NVIDIA driver for CUDA 13 (>= 580) and the NVIDIA container toolkit.
FROM nvcr.io/nvidia/tensorrt:25.11-py3

# What uv.lock resolves for this image; tests/docker checks these labels against the lock.
LABEL org.opencontainers.image.title="gms-worker" \
      org.opencontainers.image.description="Prefect process worker for the gms GPU pool" \
      org.gms.cuda-major="13" \
      org.gms.torch="2.15.0" \
      org.gms.tensorrt="11.4.0.106" \
      org.gms.prefect="3.8.8" \
      org.gms.mlflow="3.17.2"

COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /uvx /usr/local/bin/

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/gms/.venv \
    PATH="/opt/gms/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    DO_NOT_TRACK=true \
    MLFLOW_DISABLE_TELEMETRY=true \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    GMS_WORK_POOL=gpu \
    GMS_HOME=/opt/gms

WORKDIR /opt/gms

# Locked dependencies first (a layer that survives code changes), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra tensorrt --no-install-project
COPY . .
RUN uv sync --frozen --no-dev --extra tensorrt \
    && useradd --create-home --uid 10001 --user-group gms \
    && mkdir -p /opt/gms/data /opt/gms/.dvc \
    && chown gms:gms /opt/gms /opt/gms/data /opt/gms/.dvc

USER 10001:10001
ENTRYPOINT ["/opt/gms/docker/worker-entrypoint.sh"]
