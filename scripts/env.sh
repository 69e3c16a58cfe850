# shellcheck shell=bash
# Source this from the repository: puts the pinned toolchain on PATH and makes the
# checkout importable as the collection htcfarm.bsaas (ansible, molecule, pytest).
BSAAS_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BSAAS_REPO
if [ -x "$BSAAS_REPO/.venv/bin/python" ]; then
  export VIRTUAL_ENV="$BSAAS_REPO/.venv"
  export PATH="$VIRTUAL_ENV/bin:$PATH"
fi
# ansible_collections/htcfarm/bsaas -> the checkout, so FQCNs resolve to the working tree.
mkdir -p "$BSAAS_REPO/.cache/collections/ansible_collections/htcfarm"
ln -sfn ../../../.. "$BSAAS_REPO/.cache/collections/ansible_collections/htcfarm/bsaas"
export ANSIBLE_COLLECTIONS_PATH="$BSAAS_REPO/.cache/collections"
export ANSIBLE_ROLES_PATH="$BSAAS_REPO/roles"
export ANSIBLE_CONFIG="$BSAAS_REPO/ansible.cfg"
# Molecule's platforms use this image; a CI that can pull images sets it to a pulled one.
export BSAAS_TEST_IMAGE="${BSAAS_TEST_IMAGE:-htcfarm-bsaas/debian12-systemd:latest}"
# HTCondor pools: Debian 13's own condor (23.9.6), and Debian 13 with testing's condor (25.14.1).
export BSAAS_TEST_IMAGE_DEBIAN13="${BSAAS_TEST_IMAGE_DEBIAN13:-htcfarm-bsaas/debian13-systemd:latest}"
export BSAAS_TEST_IMAGE_DEBIAN13_TESTING="${BSAAS_TEST_IMAGE_DEBIAN13_TESTING:-htcfarm-bsaas/debian13-testing-systemd:latest}"
# Packages fetched inside test containers are kept here and shared between them.
export BSAAS_APT_CACHE="${BSAAS_APT_CACHE:-$HOME/.cache/htcfarm-bsaas/apt-archives}"
mkdir -p "$BSAAS_APT_CACHE/partial"
export PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1
export MOLECULE_NO_LOG=false
