#!/usr/bin/env python3
"""How fast marathon_app's logic reconciles many apps, against the loopback Marathon API test fake.

Figures: create time per app (PUT + deployment poll), no-op check time per app (GET + compare),
scale time per app, and the scale-to-queue helper's throughput. The test fake answers instantly,
so these are the client-side and HTTP round-trip costs, the floor under what a real Marathon adds.

    python benchmarks/marathon_app_reconcile.py [--apps 30]
"""
import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))
sys.path.insert(0, os.path.join(REPO, "tests"))  # conftest's symlink layout
import conftest  # noqa: E402,F401  (creates the ansible_collections symlink if needed)

from ansible_collections.htcfarm.bsaas.plugins.module_utils import marathon  # noqa: E402
from ansible_collections.htcfarm.bsaas.tests.unit.fakes.marathon_fake import start_fake_marathon  # noqa: E402


def app(index):
    return {"id": "/bench/pool%03d/execute" % index, "instances": 2, "cpus": 1, "mem": 2048,
            "container": {"type": "DOCKER", "docker": {"image": "htcondor/execute:24.0-el9"}},
            "env": {"CONDOR_HOST": "10.233.8.10"},
            "healthChecks": [{"protocol": "MESOS_TCP", "port": 9618}],
            "constraints": [["hostname", "GROUP_BY"]]}


def timed(label, count, action):
    start = time.perf_counter()
    for index in range(count):
        action(index)
    elapsed = time.perf_counter() - start
    print("  %-28s %8.2f ms/app  (%d apps, %.2f s)" % (label, 1000.0 * elapsed / count, count, elapsed))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=30)
    args = parser.parse_args()
    server = start_fake_marathon()
    try:
        client = marathon.MarathonClient(server.url, timeout=5)
        print("marathon_app reconcile against the loopback test fake")
        timed("create (wait for deploy)", args.apps,
              lambda i: marathon.ensure_app(client, app(i)["id"], definition=app(i), interval=0.001))
        timed("no-op check", args.apps,
              lambda i: marathon.ensure_app(client, app(i)["id"], definition=app(i), interval=0.001))
        timed("scale executors", args.apps,
              lambda i: marathon.ensure_app(client, app(i)["id"], instances=4, interval=0.001))
    finally:
        server.shutdown()
        server.server_close()
    start = time.perf_counter()
    calls = 100000
    for idle in range(calls):
        marathon.executors_for_queue(idle % 5000, 100, 8, 1, 400, 50, 10)
    print("  %-28s %8.2f us/call (%d calls)" % ("executors_for_queue", 1e6 * (time.perf_counter() - start) / calls, calls))


if __name__ == "__main__":
    main()
