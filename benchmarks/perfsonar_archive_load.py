"""Archive requests per period for a site of 1 and of 100 execute nodes, both ways of feeding the startds.

A real perfSONAR archive runs on 127.0.0.1 (the unit tests' server: esmond REST and OpenSearch in their upstream
formats) and counts every HTTP request it answers. A three-site mesh (throughput, ping, powstream per ordered
pair) is read for one STARTD_CRON period:
  - archive:   every execute node's STARTD_CRON reads the archive itself (perfsonar_ingest_execute_source: archive);
  - collector: the central manager's publisher reads it once and advertises one ad per site; every execute node
               copies its site's ad (what site.yml deploys). The collector is stood in for by the publisher's ad
               text, which is what condor_status -long returns; it is not an archive request either way.
It also checks that both ways publish the same startd attributes. Nothing is asserted about speed.
"""
import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))

from ansible_collections.htcfarm.bsaas.plugins.module_utils import perfsonar as ps  # noqa: E402
from ansible_collections.htcfarm.bsaas.tests.unit.plugins.module_utils.fixtures.perfsonar.archive_server import (  # noqa: E402
    Measurement, start_archive, stop_archive)

SITES = {"alpha": ["10.1.0.0/16"], "beta": ["10.2.0.0/16"], "gamma": ["10.3.0.0/16"]}
HOSTS = {"alpha": "10.1.0.10", "beta": "10.2.0.10", "gamma": "10.3.0.10"}


def mesh(now):
    out = []
    for src in sorted(HOSTS):
        for dst in sorted(HOSTS):
            if src == dst:
                continue
            for run in range(4):
                ts = now - (run + 1) * 6 * 3600
                out.append(Measurement(HOSTS[src], HOSTS[dst], "throughput", ts, throughput_bps=(100 + run) * 1e6))
                out.append(Measurement(HOSTS[src], HOSTS[dst], "rtt", ts + 60, rtt_ms=12.0, loss=0.0))
                out.append(Measurement(HOSTS[src], HOSTS[dst], "latencybg", ts + 120, owdelay_ms=6.0, loss=0.0))
    return out


def one_period(server, kind, executors, source, tmp):
    """Archive requests of one period at site beta with this many execute nodes; and one node's output."""
    url = server.esmond_url if kind == "esmond" else server.base_url
    base = {"archive_type": kind, "archive_url": url, "sites": SITES, "local_mbps": 10000}
    before = len(server.state.requests)
    outputs = set()
    if source == "archive":
        for node in range(executors):
            config = dict(base, local_site="beta", cache_path=os.path.join(tmp, "node-%d.json" % node))
            outputs.add(ps.run_cron(config, ps.urllib_transport(), now=NOW))
    else:
        ads, _status, _sites = ps.site_ads(dict(base, cache_path=os.path.join(tmp, "published.json")),
                                           ps.urllib_transport(), now=NOW)
        text = {dict(ad)["PerfSONAR_Site"].strip('"'): ps.render_advertise_input([ad]) for ad in ads}

        def query(constraint):
            return text["beta"] if '"beta"' in constraint else ""

        for node in range(executors):
            config = {"source": "collector", "local_site": "beta", "cache_path": os.path.join(tmp, "c-%d.json" % node)}
            outputs.add(ps.run_cron(config, None, now=NOW, query=query))
    return len(server.state.requests) - before, outputs


NOW = time.time()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executors", type=int, nargs="+", default=[1, 100])
    args = parser.parse_args()
    import tempfile
    server = start_archive(mesh(NOW), clock=lambda: NOW)
    failures = 0
    try:
        print("perfSONAR archive requests per STARTD_CRON period at one site (3-site mesh, loopback HTTP archive)")
        print("  {0:<10} {1:>9} {2:>26} {3:>30}".format("archive", "executors", "each executor reads it",
                                                         "central manager reads it once"))
        for kind in ("esmond", "opensearch"):
            for count in args.executors:
                with tempfile.TemporaryDirectory() as tmp:
                    direct, direct_out = one_period(server, kind, count, "archive", tmp)
                    shared, shared_out = one_period(server, kind, count, "collector", tmp)
                same = len(direct_out) == 1 and direct_out == shared_out
                failures += 0 if same else 1
                print("  {0:<10} {1:>9} {2:>26} {3:>30}{4}".format(kind, count, direct, shared,
                                                                   "" if same else "  (ads differ!)"))
        print("  baseline: before this change every execute node read the archive (the middle column).")
    finally:
        stop_archive(server)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
