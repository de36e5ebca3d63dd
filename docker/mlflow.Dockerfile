# MLflow tracking server with S3 artifact support, for docker/compose.yaml.
# mlflow and boto3 are pinned to the versions uv.lock resolves (checked by tests/docker);
# psycopg2 is the driver of its Postgres backend store.
FROM python:3.12.11-slim-bookworm

RUN pip install --no-cache-dir mlflow==3.17.2 boto3==1.43.117 psycopg2-binary==2.9.13 \
    && useradd --create-home --uid 10001 --user-group mlflow \
    && mkdir -p /data \
    && chown mlflow:mlflow /data

ENV MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
USER 10001:10001
EXPOSE 5000
ENTRYPOINT ["mlflow", "server"]
