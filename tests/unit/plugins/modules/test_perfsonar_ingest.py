# -*- coding: utf-8 -*-
"""perfsonar_ingest as Ansible runs it (argument parsing, open_url, fail_json) against a loopback archive."""

from __future__ import absolute_import, division, print_function

import json

import pytest

from ansible_collections.htcfarm.bsaas.plugins.modules import perfsonar_ingest
from ansible_collections.htcfarm.bsaas.tests.unit.plugins.modules.runner import run_module
from ansible_collections.htcfarm.bsaas.tests.unit.plugins.module_utils.fixtures.perfsonar.archive_server import (
    Measurement, start_archive, stop_archive)

SITES = {"torino": ["10.1.0.0/16"], "bologna": ["10.2.0.0/16"], "bari": ["10.3.0.0/16"]}
HOSTS = {"torino": "10.1.0.10", "bologna": "10.2.0.10", "bari": "10.3.0.10"}


def run(args):
    return run_module(perfsonar_ingest.main, args)


@pytest.fixture
def archive():
    import time
    now = time.time()   # the module reads the clock, so the data is recent relative to it
    data = []
    for src, dst, mbps in (("torino", "bari", 400.0), ("bari", "torino", 300.0), ("torino", "bologna", 9000.0),
                           ("bologna", "torino", 8000.0), ("bologna", "bari", 500.0)):
        for hours in (2, 8, 14):
            data.append(Measurement(HOSTS[src], HOSTS[dst], "throughput", now - hours * 3600,
                                    throughput_bps=mbps * 1e6))
            data.append(Measurement(HOSTS[src], HOSTS[dst], "rtt", now - hours * 3600, rtt_ms=12.0, loss=0.0))
    server = start_archive(data)
    yield server
    stop_archive(server)


@pytest.mark.parametrize("kind", ["esmond", "opensearch"])
def test_returns_figures_attributes_and_throttles(archive, kind):
    url = archive.esmond_url if kind == "esmond" else archive.base_url
    out = run({"archive_type": kind, "archive_url": url, "sites": SITES, "local_site": "torino",
               "page_size": 3, "_ansible_check_mode": True})
    assert out["rc"] == 0 and out["changed"] is False
    by_pair = dict(((p["source_site"], p["destination_site"]), p) for p in out["pairs"])
    assert by_pair[("torino", "bari")]["throughput_mbps"]["value"] == pytest.approx(400.0)
    assert by_pair[("bari", "bologna")]["throughput_mbps"]["origin"] == "reverse"
    assert out["startd_attributes"]["PerfSONAR_InMbps_bari"] == "300.0"
    assert out["startd_cron_output"].endswith("-\n")
    # best path out of torino is 9000 Mbit/s: 90 transfers of 100 Mbit/s; best path in is 8000
    assert out["throttles"] == {"MAX_CONCURRENT_UPLOADS": 90, "MAX_CONCURRENT_DOWNLOADS": 80}
    assert out["stats"]["archive_requests"] > 1   # paged


def test_credentials_are_sent_and_kept_out_of_the_result(archive):
    archive.state.credentials = ("reader", "pw-not-in-output")
    denied = run({"archive_type": "opensearch", "archive_url": archive.base_url, "sites": SITES})
    assert denied["rc"] == 1 and "HTTP 401" in denied["msg"] and "credentials" in denied["msg"]
    ok = run({"archive_type": "opensearch", "archive_url": archive.base_url, "sites": SITES,
              "url_username": "reader", "url_password": "pw-not-in-output"})
    assert ok["rc"] == 0 and len(ok["pairs"]) == 6
    assert "pw-not-in-output" not in json.dumps(ok)


def test_archive_errors_fail_with_cause(archive):
    archive.state.mode = "malformed"
    out = run({"archive_type": "esmond", "archive_url": archive.esmond_url, "sites": SITES})
    assert out["rc"] == 1 and out["failed"] and "malformed JSON" in out["msg"]


@pytest.mark.parametrize("extra,needle", [
    ({"local_site": "catania"}, "local_site 'catania' is not a key of sites"),
    ({"sites": {"torino": ["10.1.0.0/40"]}}, "is not a CIDR"),
    ({"window_seconds": 0}, "window_seconds"),
    ({"throttle_min": 10, "throttle_max": 5}, "throttle_min"),
])
def test_bad_input_fails_before_any_request(archive, extra, needle):
    args = {"archive_type": "opensearch", "archive_url": archive.base_url, "sites": SITES}
    args.update(extra)
    out = run(args)
    assert out["rc"] == 1 and needle in out["msg"]
    assert archive.state.requests == []
