#!/usr/bin/env bash
# Start one Prefect process worker per GPU, each seeing only its GPU (CUDA_VISIBLE_DEVICES=i)
# and running one flow run at a time, so an ablation fans out one arm per GPU.
#   GMS_GPUS       comma-separated GPU indices to serve (default: every GPU nvidia-smi lists)
#   GMS_WORK_POOL  work pool to poll (default: gpu)
# Worker i answers health checks on port 8080+i. Extra arguments go to every `prefect worker`.
# The container exits when any worker exits, so its restart policy restores the whole set.
set -euo pipefail

gpus="${GMS_GPUS:-}"
if [[ -z "${gpus}" ]] && command -v nvidia-smi >/dev/null 2>&1; then
  gpus="$(nvidia-smi --query-gpu=index --format=csv,noheader | paste -sd, -)"
fi
if [[ -z "${gpus}" ]]; then
  echo "gms worker: no GPU visible (no GMS_GPUS, nvidia-smi lists none or is missing);" \
    "is the NVIDIA container toolkit set up?" >&2
  exit 1
fi

pids=()
: > /tmp/gms-worker-ports
for gpu in ${gpus//,/ }; do
  port=$((8080 + gpu))
  echo "${port}" >> /tmp/gms-worker-ports
  CUDA_VISIBLE_DEVICES="${gpu}" PREFECT_WORKER_WEBSERVER_PORT="${port}" \
    prefect worker start --pool "${GMS_WORK_POOL:-gpu}" --type process --limit 1 \
    --name "$(hostname)-gpu${gpu}" --with-healthcheck "$@" &
  pids+=("$!")
done

stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; }
trap stop TERM INT
status=0
wait -n "${pids[@]}" || status=$?
stop
wait || true
exit "${status}"
