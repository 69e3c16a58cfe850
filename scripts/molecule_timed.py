#!/usr/bin/env python3
"""Run `molecule test -s SCENARIO`, keep its full log, and print how long each action took.

The converge and idempotence actions are the scenario's first converge and its no-op re-run,
so every CI run also reports those figures (and their ratio) for every scenario.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ACTION = re.compile(r"\[(?P<scenario>[\w.-]+) > (?P<action>[\w-]+)\] (?P<what>Executing|Executed)")


def run(scenario, log_path, extra):
    durations = []  # (action, seconds) in order; an action may run twice (destroy)
    started = {}
    cmd = ["molecule", "test", "-s", scenario] + extra
    with open(log_path, "w") as log:
        # Every play recap in the log then lists its slowest tasks: where a scenario's time goes.
        env = dict(os.environ)
        env.setdefault("ANSIBLE_CALLBACKS_ENABLED", "ansible.posix.profile_tasks")
        env.setdefault("PROFILE_TASKS_TASK_OUTPUT_LIMIT", "15")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:
            now = time.time()
            log.write(line)
            match = ACTION.search(line)
            if not match:
                continue
            action = match.group("action")
            if match.group("what") == "Executing":
                started[action] = now
            elif action in started:
                durations.append((action, now - started.pop(action)))
        rc = proc.wait()
    return rc, durations


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario")
    parser.add_argument("--log", required=True)
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("extra", nargs="*")
    args = parser.parse_args()

    start = time.time()
    # Each container mounts its own apt archive (apt locks the directory for a whole install);
    # seed them from the shared cache so that no package is fetched twice in one run.
    here = os.path.dirname(os.path.abspath(__file__))
    shared = os.environ.get("BSAAS_APT_CACHE")
    config = os.path.join(here, "..", "molecule", args.scenario, "molecule.yml")
    if shared and os.path.exists(config):
        subprocess.call([sys.executable, os.path.join(here, "apt-archives.py"), shared, "--molecule", config])
    rc, durations = run(args.scenario, args.log, args.extra)
    total = time.time() - start
    parts = ", ".join("%s %.0fs" % (a, s) for a, s in durations)
    print("scenario %s: %s after %.0fs (%s)" % (args.scenario, "ok" if rc == 0 else "FAILED", total, parts))
    times = dict(durations)
    if "converge" in times and "idempotence" in times:
        print("scenario %s: first converge %.1fs, no-op re-run %.1fs, ratio %.2f"
              % (args.scenario, times["converge"], times["idempotence"],
                 times["idempotence"] / times["converge"]))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"scenario": args.scenario, "rc": rc, "total_s": total,
                       "actions": [{"action": a, "seconds": s} for a, s in durations]}, out, indent=2)
    return rc


if __name__ == "__main__":
    sys.exit(main())
