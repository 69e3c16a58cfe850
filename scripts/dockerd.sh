#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install docker.io if the client or
# daemon is missing, start dockerd when nothing is listening, then wait until it answers.
set -euo pipefail

log=${BSAAS_DOCKERD_LOG:-/var/log/bsaas-dockerd.log}
wait_s=${BSAAS_DOCKERD_WAIT:-60}

if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockerd: installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if docker info >/dev/null 2>&1; then
  echo "dockerd: already answering ($(docker version --format '{{.Server.Version}}'))"
  exit 0
fi

if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  systemctl start docker || true
fi
if ! docker info >/dev/null 2>&1 && ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "dockerd: starting (log: $log)"
  nohup dockerd >"$log" 2>&1 &
fi

for _ in $(seq 1 "$wait_s"); do
  if docker info >/dev/null 2>&1; then
    echo "dockerd: answering ($(docker version --format '{{.Server.Version}}'), storage $(docker info --format '{{.Driver}}'))"
    exit 0
  fi
  sleep 1
done
echo "dockerd: no answer after ${wait_s}s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
