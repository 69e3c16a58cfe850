#!/usr/bin/env bash
# README's main command: deploy the sandbox pool on local containers and say what was deployed.
#   bash scripts/sandbox.sh            set up the toolchain, create the containers, run playbooks/site.yml
#   bash scripts/sandbox.sh --destroy  remove the sandbox containers and networks
# The site playbook deploys every layer this machine can obtain; the summary at the end lists, per layer,
# what was deployed on which container and what was skipped and why (e.g. an image archive not found).
# Then the submit user alice (key pair in .cache/sandbox/) logs in to the submitter over ssh and runs one
# test job on each executor (playbooks/sandbox/test_jobs.yml); the report says where each ran, as whom,
# whether the executor was reached through CCB, and the exit code.
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
jobs_report="$BSAAS_REPO/.cache/sandbox-test-jobs.txt"
rm -f "$summary" "$jobs_report"
# The submit user's key pair: the inventory authorizes alice.pub, test_jobs.yml logs in with alice.
mkdir -p "$BSAAS_REPO/.cache/sandbox"
if [ ! -s "$BSAAS_REPO/.cache/sandbox/alice" ]; then
  ssh-keygen -q -t ed25519 -N "" -C alice@bsaas-sandbox -f "$BSAAS_REPO/.cache/sandbox/alice"
fi
echo "== sandbox: creating containers (two sites, site beta behind NAT)"
ansible-playbook playbooks/sandbox/containers.yml

echo "== sandbox: running playbooks/site.yml on inventories/sandbox"
rc=0
ansible-playbook -i inventories/sandbox playbooks/site.yml -e "bsaas_summary_path=$summary" || rc=$?

jobs_rc=0
if [ "$rc" -eq 0 ] && grep -q '^users reach the submitter' "$summary" 2>/dev/null; then
  echo "== sandbox: test jobs, one per executor, submitted by alice over ssh"
  ansible-playbook -i inventories/sandbox playbooks/sandbox/test_jobs.yml || jobs_rc=$?
fi

echo
echo "================================ sandbox summary ================================"
if [ -s "$summary" ]; then
  cat "$summary"
  echo
  echo "Layers or components marked '-' were not deployed; the reason follows 'skipped:'."
  echo "To add them, place the named artifacts on this machine and run this command again."
  echo "The sandbox's submit user is alice; her key is .cache/sandbox/alice (ssh -i .cache/sandbox/alice ...)."
else
  echo "site.yml stopped before its summary (exit $rc); the messages above say where and why."
fi
if [ -s "$jobs_report" ]; then
  echo
  cat "$jobs_report"
elif [ "$jobs_rc" -ne 0 ]; then
  echo
  echo "The test jobs could not be run (exit $jobs_rc); the messages above say why."
fi
echo "Took $((SECONDS / 60))m$((SECONDS % 60))s. Remove the sandbox with: bash scripts/sandbox.sh --destroy"
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
exit "$jobs_rc"
