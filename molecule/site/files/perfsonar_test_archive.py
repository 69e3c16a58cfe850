# -*- coding: utf-8 -*-
"""The site scenario's perfSONAR archive: esmond REST on 127.0.0.1 of site-1, in the real format.

Harness, not part of the pool: it stands for the perfSONAR archive of a real grid, and only the central
manager's publisher and the submitter's Ansible run (both on site-1) read it. The format is the unit tests'
archive (archive_server.py beside this file, copied from tests/unit/plugins/module_utils/fixtures/perfsonar;
sources and licences in its README). The measurements, made when it starts:
  alpha -> beta   TCP throughput 1 Mbit/s (the thin link into the NATed site), one run;
                  two UDP throughput tests offering 900 Mbit/s, which the ingestion must leave out;
                  ping 25 ms (histogram-rtt), loss 0 (packet-loss-rate-bidir)
  beta -> alpha   TCP throughput 5 Mbit/s, three runs; powstream one-way delay 12 ms (histogram-owdelay)
Every request line is appended to --log, so the scenario can count who read the archive.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import archive_server  # noqa: E402

ALPHA = "10.231.11.11"
BETA = "10.231.12.13"


def measurements(now):
    runs = [archive_server.Measurement(ALPHA, BETA, "throughput", now - 3600, throughput_bps=1e6)]
    for hours in (1, 2, 3):
        runs.append(archive_server.Measurement(BETA, ALPHA, "throughput", now - hours * 3600 + 60, throughput_bps=5e6))
    # two UDP tests at their offered rate: counted, they would make the alpha -> beta median 900 Mbit/s
    for minutes in (30, 90):
        runs.append(archive_server.Measurement(ALPHA, BETA, "throughput", now - minutes * 60, throughput_bps=9e8,
                                               udp=True, bandwidth=9e8, loss=0.0))
    runs.append(archive_server.Measurement(ALPHA, BETA, "rtt", now - 900, rtt_ms=25.0, loss=0.0))
    runs.append(archive_server.Measurement(BETA, ALPHA, "latencybg", now - 600, owdelay_ms=12.0, loss=0.0))
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--log", default="/var/log/bsaas-test-archive.log")
    args = parser.parse_args()
    state = archive_server.ArchiveState(measurements(time.time()))
    base = archive_server.make_handler(state, time.time)

    class Handler(base):
        def log_message(self, fmt, *values):
            with open(args.log, "a") as stream:
                stream.write("%s %s\n" % (self.address_string(), fmt % values))

    server = archive_server._ThreadingServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
