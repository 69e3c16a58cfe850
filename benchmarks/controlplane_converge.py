#!/usr/bin/env python3
"""First-converge time, no-op re-run time and their ratio for the molecule scenario `controlplane`.

By default it reports the figures of the last full `molecule test -s controlplane` recorded by
scripts/test.sh (.cache/molecule-controlplane.json), so the CI benchmark stage takes a second.
With --run it measures afresh: molecule create, converge (timed), idempotence (the no-op re-run,
timed), destroy (always, so no container is left behind), and prints the time spent per role.
A fresh run takes several minutes on a 2-core machine, mostly package downloads.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

SCENARIO = "controlplane"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORD = os.path.join(REPO, ".cache", "molecule-%s.json" % SCENARIO)
ROLE_LINE = re.compile(r"^(htcfarm\.bsaas\.\w+|\w[\w.]*)\s-+\s([\d.]+)s$")


def print_figures(converge_s, rerun_s, source):
    print("controlplane scenario (%s)" % source)
    print("  first converge   %7.1f s" % converge_s)
    print("  no-op re-run     %7.1f s" % rerun_s)
    print("  re-run / first   %7.2f" % (rerun_s / converge_s))


def from_record():
    with open(RECORD) as handle:
        record = json.load(handle)
    seconds = {}
    for action in record["actions"]:
        seconds.setdefault(action["action"], action["seconds"])
    if record.get("rc") != 0 or "converge" not in seconds or "idempotence" not in seconds:
        print("the recorded run in %s did not pass converge and idempotence (rc=%s); "
              "run this script with --run" % (RECORD, record.get("rc")))
        return 1
    age_min = (time.time() - os.path.getmtime(RECORD)) / 60
    print_figures(seconds["converge"], seconds["idempotence"],
                  "recorded by scripts/test.sh %.0f min ago, whole molecule test %.0f s"
                  % (age_min, record["total_s"]))
    return 0


def molecule(action, log):
    started = time.time()
    proc = subprocess.run(["molecule", action, "-s", SCENARIO], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)
    log.write(proc.stdout)
    return proc.returncode, time.time() - started, proc.stdout


def role_times(output):
    """The profile_roles summary lines (role name and seconds) of one ansible-playbook run."""
    return [(m.group(1), float(m.group(2))) for m in map(ROLE_LINE.match, output.splitlines()) if m]


def fresh_run():
    os.environ["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_roles"
    log_path = os.path.join(REPO, ".cache", "bench-%s.log" % SCENARIO)
    with open(log_path, "w") as log:
        try:
            molecule("destroy", log)
            rc, _, _ = molecule("create", log)
            if rc != 0:
                print("molecule create failed, see %s" % log_path)
                return 1
            rc, converge_s, converge_out = molecule("converge", log)
            if rc != 0:
                print("molecule converge failed after %.0f s, see %s" % (converge_s, log_path))
                return 1
            rc, rerun_s, _ = molecule("idempotence", log)
            if rc != 0:
                print("the re-run changed something (idempotence failed), see %s" % log_path)
                return 1
        finally:
            molecule("destroy", log)
    print_figures(converge_s, rerun_s, "measured now, log in %s" % log_path)
    for role, seconds in role_times(converge_out):
        print("  first converge, %-24s %6.1f s" % (role, seconds))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="measure with a fresh molecule run (minutes)")
    args = parser.parse_args()
    if args.run or os.environ.get("BSAAS_BENCH_CONTROLPLANE_RUN") == "1":
        return fresh_run()
    if os.path.exists(RECORD):
        return from_record()
    print("no recorded run of the controlplane scenario yet (%s); run scripts/test.sh or this script "
          "with --run to measure" % RECORD)
    return 0


if __name__ == "__main__":
    sys.exit(main())
