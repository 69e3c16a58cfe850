#!/usr/bin/env bash
# README's main command: deploy the sandbox pool on local containers and say what was deployed.
#   bash scripts/sandbox.sh            set up the toolchain, create the containers, run playbooks/site.yml
#   bash scripts/sandbox.sh --destroy  remove the sandbox containers and networks
# The site playbook deploys every layer this machine can obtain; the summary at the end lists, per layer,
# what was deployed on which container and what was skipped and why (e.g. an image archive not found).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "${1:-}" = "--destroy" ]; then
  # shellcheck source=scripts/env.sh
  source scripts/env.sh
  ansible-playbook playbooks/sandbox/containers.yml -e sandbox_state=absent
  exit 0
fi

bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh

summary="$BSAAS_REPO/.cache/sandbox-summary.txt"
rm -f "$summary"
echo "== sandbox: creating containers (two sites, site beta behind NAT)"
ansible-playbook playbooks/sandbox/containers.yml

echo "== sandbox: running playbooks/site.yml on inventories/sandbox"
rc=0
ansible-playbook -i inventories/sandbox playbooks/site.yml -e "bsaas_summary_path=$summary" || rc=$?

echo
echo "================================ sandbox summary ================================"
if [ -s "$summary" ]; then
  cat "$summary"
  echo
  echo "Layers or components marked '-' were not deployed; the reason follows 'skipped:'."
  echo "To add them, place the named artifacts on this machine and run this command again."
else
  echo "site.yml stopped before its summary (exit $rc); the messages above say where and why."
fi
echo "Remove the sandbox with: bash scripts/sandbox.sh --destroy"
exit "$rc"
