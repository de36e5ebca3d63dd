#!/usr/bin/env bash
# Healthy when every worker started by worker-entrypoint.sh answers on its health port.
set -euo pipefail
while read -r port; do
  python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:${port}/health', timeout=5)"
done < /tmp/gms-worker-ports
