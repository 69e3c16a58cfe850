#!/usr/bin/env bash
# Installs everything the deployment and the tests need on a Debian 12 machine, from
# nothing: Debian packages, the pinned Python toolchain (.venv), the EL7 interpreter's
# test venv (.venv36), a running Docker engine and the systemd test image.
# Safe to re-run: each step is skipped when it is already done.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

apt_packages=(docker.io debootstrap iperf3 iproute2 iptables nftables rsync git sudo curl ca-certificates)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

py=${BSAAS_PYTHON:-python3.11}
command -v "$py" >/dev/null 2>&1 || py=python3
stamp=$(sha256sum requirements-dev.txt | cut -c1-16)
if [ "$(cat .venv/.bsaas-stamp 2>/dev/null)" != "$stamp" ]; then
  echo "setup: building .venv from requirements-dev.txt ($("$py" --version))"
  "$py" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$stamp" > .venv/.bsaas-stamp
fi

stamp36=$(sha256sum requirements-py36.txt | cut -c1-16)
py36=$(bash scripts/find-python.sh 3.6 || true)
if [ -n "$py36" ]; then
  if [ "$(cat .venv36/.bsaas-stamp 2>/dev/null)" != "$stamp36" ]; then
    echo "setup: building .venv36 for the EL7 interpreter"
    "$py36" -m venv .venv36
    .venv36/bin/pip install -q --disable-pip-version-check 'pip==21.3.1' 2>/dev/null
    .venv36/bin/pip install -q --disable-pip-version-check -r requirements-py36.txt 2>/dev/null
    echo "$stamp36" > .venv36/.bsaas-stamp
  fi
else
  echo "setup: python3.6 not found; module code will not be tested on the EL7 interpreter" >&2
fi

bash scripts/dockerd.sh
# Debian 12 for the control plane; Debian 13 (condor 23.9.6) and Debian 13 with testing pinned low
# (condor 25.14.1) for the HTCondor pools.
for variant in debian12 debian13 debian13-testing; do
  bash scripts/build-image.sh "$variant" >/dev/null
done
echo "setup: done"
