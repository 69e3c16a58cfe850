#!/usr/bin/env bash
# site.yml on molecule/site (two sites, three nodes, one behind NAT): first converge and no-op re-run.
#   bash benchmarks/site_converge.sh         print the figures of the last `molecule test -s site` run by
#                                            scripts/test.sh (.cache/molecule-site.json), in seconds
#   bash benchmarks/site_converge.sh --run   run the scenario now (several minutes), then print them
# The scenario itself fails if the re-run changes anything; here only the durations are reported.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
figures=.cache/molecule-site.json
log=.cache/molecule-site.log
if [ "${1:-}" = "--run" ]; then
  python scripts/molecule_timed.py site --log "$log" --json "$figures"
fi
if [ ! -s "$figures" ]; then
  echo "site_converge: no figures yet (.cache/molecule-site.json); run: bash benchmarks/site_converge.sh --run"
  exit 0
fi
python - "$figures" "$log" <<'PY'
import json
import re
import sys

data = json.load(open(sys.argv[1]))
times = {}
for action in data["actions"]:
    times.setdefault(action["action"], action["seconds"])
hosts = 3
print("site_converge: scenario %s (exit %d), total %.0f s" % (data["scenario"], data["rc"], data["total_s"]))
for name in ("create", "prepare", "converge", "idempotence", "verify", "destroy"):
    if name in times:
        print("  %-12s %7.1f s" % (name, times[name]))
if "converge" in times and "idempotence" in times:
    print("site.yml first converge: %.1f s (%.1f s per host); no-op re-run: %.1f s (%.1f s per host); ratio %.2f"
          % (times["converge"], times["converge"] / hosts, times["idempotence"], times["idempotence"] / hosts,
             times["idempotence"] / times["converge"]))
try:
    text = open(sys.argv[2], errors="replace").read()
except OSError:
    sys.exit(0)
# The recap of the no-op re-run: what the idempotence action printed.
part = text.split("[site > idempotence] Executing")[-1].split("[site > idempotence] Executed")[0]
recaps = re.findall(r"^(site-\d|localhost)\s+: ok=(\d+)\s+changed=(\d+)", part, re.M)
if recaps:
    print("no-op re-run recap: " + ", ".join("%s ok=%s changed=%s" % r for r in recaps))
PY
