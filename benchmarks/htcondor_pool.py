#!/usr/bin/env python3
"""Real HTCondor pools (molecule htcondor: 25.14.1, htcondor23: Debian 13's 23.9.6): bring-up and re-run.

Reports, from the last `molecule test` of each scenario that scripts/test.sh recorded (.cache/):
  - pool bring-up: bare containers (create) to the first job cluster done, in all and per host;
  - the first converge against the no-op re-run on the live pool, and their ratio (goal: at most 0.4);
  - the fail-over and fail-back of the central manager: seconds a new job waited to start.
Prints figures only; the scenarios' own checks decide pass or fail. No time is asserted.
"""
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIOS = (("htcondor", "HTCondor 25.14.1 (Debian testing)"), ("htcondor23", "HTCondor 23.9.6 (Debian 13)"))


def load(name):
    path = os.path.join(REPO, ".cache", name)
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def report(scenario, title):
    record = load("molecule-%s.json" % scenario)
    jobs = load("bench-%s-jobs.json" % scenario)
    if not record or record.get("rc") != 0 or not jobs:
        print("%s: no passing run recorded in .cache (run BSAAS_SCENARIOS=%s bash scripts/test.sh)" % (title, scenario))
        return False
    seconds = {}
    for action in record["actions"]:
        seconds.setdefault(action["action"], action["seconds"])
    hosts = jobs["hosts"]
    bring_up = seconds.get("create", 0) + seconds.get("prepare", 0) + seconds["converge"] + jobs["cluster_seconds"]
    print("%s, %d hosts" % (title, hosts))
    print("  bring-up, bare containers to %d jobs done  %7.1f s  (%.1f s per host)" % (jobs["jobs"], bring_up, bring_up / hosts))
    print("    create %.1f s, converge %.1f s, first job cluster %d s" % (
        seconds.get("create", 0), seconds["converge"], jobs["cluster_seconds"]))
    print("  first converge                           %7.1f s" % seconds["converge"])
    print("  no-op re-run                             %7.1f s" % seconds["idempotence"])
    print("  re-run / first converge                  %7.2f  (goal <= 0.40)" % (seconds["idempotence"] / seconds["converge"]))
    failover = load("bench-%s-failover.json" % scenario)
    if failover:
        print("  fail-over: %s stopped, next job started after %s s (negotiator to %s)" % (
            failover["failover"]["old_negotiator"], failover["failover"]["seconds_without_matching"],
            failover["failover"]["new_negotiator"]))
        print("  fail-back: %s back, next job started after %s s (negotiator on %s)" % (
            failover["failover"]["old_negotiator"], failover["failback"]["seconds_without_matching"],
            failover["failback"]["negotiator"]))
    return True


def main():
    found = [report(scenario, title) for scenario, title in SCENARIOS]
    return 0 if any(found) else 1


if __name__ == "__main__":
    sys.exit(main())
