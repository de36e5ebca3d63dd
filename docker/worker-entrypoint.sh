#!/usr/bin/env bash
# Start one Prefect process worker per GPU on the pool's `default` queue, each seeing only its
# GPU (CUDA_VISIBLE_DEVICES=i) and running one flow run at a time, so that the arm groups of an
# ablation (flow runs of distill/default) fan out one per GPU over every host of the pool; and one
# worker without a GPU on the `control` queue, for the flow runs that only start and await those
# (distill-ablation/paper, toy-fanout), so that they hold no GPU worker.
#   GMS_GPUS       comma-separated GPU indices to serve (default: every GPU nvidia-smi lists)
#   GMS_WORK_POOL  work pool to poll (default: gpu)
# Worker i answers health checks on port 8080+i, the control worker on 8079. Extra arguments go
# to every `prefect worker`.
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
    prefect worker start --pool "${GMS_WORK_POOL:-gpu}" --work-queue default --type process \
    --limit 1 --name "$(hostname)-gpu${gpu}" --with-healthcheck "$@" &
  pids+=("$!")
done
echo 8079 >> /tmp/gms-worker-ports
CUDA_VISIBLE_DEVICES="" PREFECT_WORKER_WEBSERVER_PORT=8079 \
  prefect worker start --pool "${GMS_WORK_POOL:-gpu}" --work-queue control --type process \
  --name "$(hostname)-control" --with-healthcheck "$@" &
pids+=("$!")

stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; }
trap stop TERM INT
status=0
wait -n "${pids[@]}" || status=$?
stop
wait || true
exit "${status}"
