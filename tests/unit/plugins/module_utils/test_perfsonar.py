# -*- coding: utf-8 -*-
"""perfSONAR ingestion against a real HTTP archive on loopback (esmond and OpenSearch formats)."""

from __future__ import absolute_import, division, print_function

import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import perfsonar as ps
from ansible_collections.htcfarm.bsaas.tests.unit.plugins.module_utils.fixtures.perfsonar.archive_server import (
    Measurement, start_archive, stop_archive)

NOW = 1800000000.0
HOUR = 3600
SITES = {"torino": ["10.1.0.0/16"], "bologna": ["10.2.0.0/16"], "bari": ["10.3.0.0/16", "2001:db8:3::/48"]}
HOSTS = {"torino": "10.1.0.10", "bologna": "10.2.0.10", "bari": "10.3.0.10"}
# Throughput in Mbit/s per direction; bari sits behind a thin link.
LINKS = {("torino", "bologna"): 9000.0, ("bologna", "torino"): 8000.0,
         ("torino", "bari"): 400.0, ("bari", "torino"): 300.0,
         ("bologna", "bari"): 500.0, ("bari", "bologna"): 450.0}
RTT = {frozenset(("torino", "bologna")): 6.0, frozenset(("torino", "bari")): 14.0,
       frozenset(("bologna", "bari")): 10.0}


def mesh(now=NOW, runs=5, skip=()):
    """Every ordered pair: `runs` throughput tests (one outlier) and `runs` ping tests."""
    out = []
    for (src, dst), mbps in sorted(LINKS.items()):
        if (src, dst) in skip:
            continue
        for i in range(runs):
            value = mbps * 1e6 if i else mbps * 1e6 * 0.01   # the oldest run failed badly: median ignores it
            out.append(Measurement(HOSTS[src], HOSTS[dst], "throughput", now - (i + 1) * 4 * HOUR,
                                   throughput_bps=value))
            out.append(Measurement(HOSTS[src], HOSTS[dst], "rtt", now - (i + 1) * HOUR,
                                   rtt_ms=RTT[frozenset((src, dst))], loss=0.1 if (i == 0 and dst == "bari") else 0.0))
    return out


@pytest.fixture
def archive():
    server = start_archive(mesh(), clock=lambda: NOW, page_size_cap=None)
    yield server
    stop_archive(server)


def transport():
    return ps.urllib_transport()


def figures(pairs, src, dst, metric):
    return pairs[(src, dst)][metric]


@pytest.mark.parametrize("kind", ["esmond", "opensearch"])
def test_both_archive_generations_give_the_same_site_figures(archive, kind):
    if kind == "esmond":
        client = ps.EsmondClient(archive.esmond_url, transport(), page_size=2)
    else:
        client = ps.OpenSearchClient(archive.base_url, transport(), page_size=7)
    pairs, stats = ps.ingest(client, ps.SiteMap(SITES), 7 * 86400, NOW)
    assert len(pairs) == 6 and stats["unmapped_hosts"] == []
    for (src, dst), mbps in LINKS.items():
        assert figures(pairs, src, dst, ps.METRIC_THROUGHPUT)["value"] == pytest.approx(mbps)
        assert figures(pairs, src, dst, ps.METRIC_THROUGHPUT)["origin"] == "measured"
        assert figures(pairs, src, dst, ps.METRIC_RTT)["value"] == pytest.approx(RTT[frozenset((src, dst))],
                                                                                 abs=0.01)
    assert figures(pairs, "torino", "bari", ps.METRIC_LOSS)["value"] == pytest.approx(0.02)
    assert figures(pairs, "bari", "torino", ps.METRIC_LOSS)["value"] == 0.0
    assert figures(pairs, "torino", "bari", ps.METRIC_THROUGHPUT)["age_seconds"] == 4 * HOUR


def test_esmond_follows_limit_offset_pages(archive):
    client = ps.EsmondClient(archive.esmond_url, transport(), page_size=2)
    list(client.metadata("throughput", 86400 * 7))
    offsets = [path for method, path in archive.state.requests if "offset=" in path]
    assert [p.split("offset=")[1] for p in offsets] == ["0", "2", "4", "6"]   # 6 throughput measurements


def test_esmond_skips_a_measurement_deleted_after_the_search(archive):
    victim = archive.state.esmond_metadata("throughput", 0, NOW)[0]
    archive.state.deleted_keys.add(victim["metadata-key"])
    client = ps.EsmondClient(archive.esmond_url, transport())
    pairs, stats = ps.ingest(client, ps.SiteMap(SITES), 7 * 86400, NOW)
    assert client.vanished == [e["base-uri"] for e in victim["event-types"] if e["event-type"] == "throughput"]
    assert stats["site_pairs_with_data"] == 6   # the other direction still gives that pair a figure
    lost = (ps.SiteMap(SITES).site_of(victim["source"]), ps.SiteMap(SITES).site_of(victim["destination"]))
    assert pairs[lost][ps.METRIC_THROUGHPUT]["origin"] == "reverse"


def test_esmond_stops_when_server_caps_the_page_size():
    """A server that returns fewer rows than asked for ends the paging: never loop forever."""
    server = start_archive(mesh(), clock=lambda: NOW, page_size_cap=4)
    try:
        client = ps.EsmondClient(server.esmond_url, transport(), page_size=10)
        assert len(list(client.metadata("throughput", 86400 * 7))) == 4
    finally:
        stop_archive(server)


def test_opensearch_scrolls_every_page_and_frees_the_context(archive):
    client = ps.OpenSearchClient(archive.base_url, transport(), page_size=7)
    documents = list(client.documents(86400 * 7, NOW))
    assert len(documents) == 60
    methods = [m for m, p in archive.state.requests]
    assert methods.count("POST") == 1 + 60 // 7 and methods[-1] == "DELETE"
    assert archive.state.freed_scrolls == ["scroll-1"]
    assert documents[0]["meta"]["source"]["ip"] in HOSTS.values()


def test_failure_on_a_later_scroll_page_is_raised_and_the_scroll_freed(archive):
    archive.state.mode = "scroll500"
    client = ps.OpenSearchClient(archive.base_url, transport(), page_size=7)
    seen = []
    with pytest.raises(ps.ArchiveError, match="HTTP 500.*all shards failed"):
        for document in client.documents(86400 * 7, NOW):
            seen.append(document)
    assert len(seen) == 7   # the first page was delivered before the failure
    assert archive.state.requests[-1][0] == "DELETE" and archive.state.freed_scrolls == ["scroll-1"]


def test_window_drops_old_samples(archive):
    client = ps.OpenSearchClient(archive.base_url, transport(), page_size=100)
    pairs, stats = ps.ingest(client, ps.SiteMap(SITES), 5 * HOUR, NOW)
    # inside 5 h: one throughput run (4 h old) and five pings per pair
    assert stats["samples_used"] == 6 * (1 + 5 * 2)
    assert figures(pairs, "torino", "bari", ps.METRIC_THROUGHPUT)["samples"] == 1


def test_stale_direction_falls_back_to_reverse_then_to_configured_value():
    measurements = [m for m in mesh() if not (m.source == HOSTS["torino"] and m.destination == HOSTS["bari"])]
    # bari -> bologna measured only long ago: stale
    measurements = [m for m in measurements if not (m.source == HOSTS["bari"] and m.destination == HOSTS["bologna"])]
    measurements.append(Measurement(HOSTS["bari"], HOSTS["bologna"], "throughput", NOW - 5 * 86400,
                                    throughput_bps=1e9))
    site_map = ps.SiteMap(SITES)
    aggregator = ps.PairAggregator(site_map)
    for m in measurements:
        aggregator.add_all(ps.opensearch_samples(m.archive_document()))
    pairs = aggregator.summary(NOW, {"max_age_seconds": 2 * 86400})
    assert figures(pairs, "torino", "bari", ps.METRIC_THROUGHPUT)["origin"] == "reverse"
    assert figures(pairs, "torino", "bari", ps.METRIC_THROUGHPUT)["value"] == pytest.approx(300.0)
    # bologna -> bari is fresh, so the stale bari -> bologna borrows the reverse direction
    assert figures(pairs, "bari", "bologna", ps.METRIC_THROUGHPUT)["value"] == pytest.approx(500.0)
    no_reverse = aggregator.summary(NOW, {"max_age_seconds": 2 * 86400, "use_reverse_direction": False,
                                          "fallback": {ps.METRIC_THROUGHPUT: 100.0}})
    assert figures(no_reverse, "bari", "bologna", ps.METRIC_THROUGHPUT) == {
        "value": 100.0, "age_seconds": None, "samples": 0, "origin": "fallback"}
    nothing = aggregator.summary(NOW, {"max_age_seconds": 2 * 86400, "use_reverse_direction": False})
    assert ps.METRIC_THROUGHPUT not in nothing.get(("torino", "bari"), {})


@pytest.mark.parametrize("mode,needle", [
    ("http500", "HTTP 500"),
    ("http403", "lacks read access"),
    ("malformed", "malformed JSON"),
])
@pytest.mark.parametrize("kind", ["esmond", "opensearch"])
def test_archive_failures_name_cause_and_fix(archive, kind, mode, needle):
    archive.state.mode = mode
    client = ps.make_client({"archive_type": kind, "archive_url": archive.esmond_url if kind == "esmond"
                             else archive.base_url}, transport())
    with pytest.raises(ps.ArchiveError) as err:
        ps.ingest(client, ps.SiteMap(SITES), 86400, NOW)
    assert needle in str(err.value)


@pytest.mark.parametrize("kind", ["esmond", "opensearch"])
def test_slow_archive_times_out_with_advice(archive, kind):
    archive.state.mode = "slow"
    archive.state.slow_seconds = 1.5
    client = ps.make_client({"archive_type": kind, "timeout": 0.3, "archive_url": archive.esmond_url
                             if kind == "esmond" else archive.base_url}, transport())
    with pytest.raises(ps.ArchiveError) as err:
        ps.ingest(client, ps.SiteMap(SITES), 86400, NOW)
    assert "did not answer within 0.3s" in str(err.value)


@pytest.mark.parametrize("kind", ["esmond", "opensearch"])
def test_empty_archive_gives_no_figures(archive, kind):
    archive.state.mode = "empty"
    client = ps.make_client({"archive_type": kind, "archive_url": archive.esmond_url if kind == "esmond"
                             else archive.base_url}, transport())
    pairs, stats = ps.ingest(client, ps.SiteMap(SITES), 86400, NOW)
    assert pairs == {} and stats["samples_seen"] == 0


def test_search_answer_without_hits_is_an_error(archive):
    archive.state.mode = "no-hits"
    client = ps.OpenSearchClient(archive.base_url, transport())
    with pytest.raises(ps.ArchiveError, match="no hits object"):
        list(client.documents(86400, NOW))


def test_connection_refused_is_reported():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()   # nothing listens there now
    client = ps.OpenSearchClient("http://127.0.0.1:{0}".format(port), transport())
    with pytest.raises(ps.ArchiveError, match="cannot reach perfSONAR archive"):
        list(client.documents(86400, NOW))


def test_basic_auth_is_sent_and_required(archive):
    archive.state.credentials = ("ingest", "s3cret")
    with pytest.raises(ps.ArchiveError, match="HTTP 401.*credentials"):
        list(ps.OpenSearchClient(archive.base_url, transport()).documents(86400, NOW))
    authed = ps.urllib_transport(username="ingest", password="s3cret")
    assert len(list(ps.OpenSearchClient(archive.base_url, authed).documents(86400 * 7, NOW))) == 60


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("openssl command not installed: needed to make a test CA")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = str(folder / "key.pem"), str(folder / "cert.pem")
    subprocess.check_call(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                           "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return key, cert


def test_tls_is_verified_by_default_and_accepts_a_ca_bundle(tls_material):
    key, cert = tls_material
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = start_archive(mesh(), clock=lambda: NOW, ssl_context=context)
    try:
        with pytest.raises(ps.ArchiveError, match="TLS verification.*CA bundle"):
            list(ps.OpenSearchClient(server.base_url, ps.urllib_transport()).documents(86400, NOW))
        verified = ps.urllib_transport(ca_path=cert)
        assert len(list(ps.OpenSearchClient(server.base_url, verified).documents(86400 * 7, NOW))) == 60
    finally:
        stop_archive(server)


def test_site_map_longest_prefix_and_both_address_families():
    site_map = ps.SiteMap({"big": ["10.0.0.0/8"], "small": ["10.3.3.0/28"], "v6": ["2001:db8::/32"]})
    assert site_map.site_of("10.3.3.5") == "small"
    assert site_map.site_of("10.3.3.17") == "big"
    assert site_map.site_of("2001:db8::1") == "v6"
    assert site_map.site_of("192.0.2.1") is None
    assert site_map.site_of("not-an-ip") is None


def test_site_map_without_netaddr_agrees(monkeypatch):
    monkeypatch.setattr(ps, "HAS_NETADDR", False)
    site_map = ps.SiteMap({"big": ["10.0.0.0/8"], "small": ["10.3.3.0/28"], "v6": ["2001:db8::/32"]})
    assert [site_map.site_of(a) for a in ("10.3.3.5", "10.3.3.17", "2001:db8::1", "192.0.2.1")] == [
        "small", "big", "v6", None]


@pytest.mark.parametrize("sites,needle", [
    ({"torino": ["10.1.0.0/33"]}, "is not a CIDR"),
    ({"torino": "10.1.0.0/16"}, "non-empty list"),
    ({"9lives": ["10.1.0.0/16"]}, "not usable in a ClassAd"),
    ({"a-b": ["10.1.0.0/16"], "a_b": ["10.2.0.0/16"]}, "same ClassAd attribute suffix"),
    ({}, "sites must map"),
])
def test_site_map_rejects_bad_settings(sites, needle):
    with pytest.raises(ps.ConfigError, match=needle):
        ps.SiteMap(sites)


def test_unmapped_hosts_are_reported_not_guessed(archive):
    pairs, stats = ps.ingest(ps.OpenSearchClient(archive.base_url, transport()),
                             ps.SiteMap({"torino": ["10.1.0.0/16"], "bologna": ["10.2.0.0/16"]}), 86400 * 7, NOW)
    assert stats["unmapped_hosts"] == ["10.3.0.10"]
    assert set(pairs) == {("torino", "bologna"), ("bologna", "torino")}


def test_histogram_mean_and_timestamps():
    assert ps.histogram_mean({"34.4": 506, "34.5": 85, "34.6": 5, "34.7": 4}) == pytest.approx((34.4 * 506 + 34.5 * 85 + 34.6 * 5 + 34.7 * 4) / 600)
    assert ps.histogram_mean({}) is None
    assert ps.parse_timestamp("2027-01-15T08:00:00Z") == 1800000000.0
    assert ps.parse_timestamp("2027-01-15T09:00:00.5+01:00") == 1800000000.5
    assert ps.parse_timestamp(1800000000000) == 1800000000.0
    assert ps.parse_timestamp("yesterday") is None


def test_transfer_throttles_follow_measured_bandwidth():
    pairs = {("torino", "bologna"): {ps.METRIC_THROUGHPUT: {"value": 9000.0}},
             ("torino", "bari"): {ps.METRIC_THROUGHPUT: {"value": 400.0}},
             ("bari", "torino"): {ps.METRIC_THROUGHPUT: {"value": 300.0}}}
    assert ps.transfer_throttles(pairs, "torino", 100) == {"MAX_CONCURRENT_UPLOADS": 90, "MAX_CONCURRENT_DOWNLOADS": 3}
    assert ps.transfer_throttles(pairs, "bari", 100, minimum=4) == {"MAX_CONCURRENT_UPLOADS": 4, "MAX_CONCURRENT_DOWNLOADS": 4}
    assert ps.transfer_throttles(pairs, "bologna", 100)["MAX_CONCURRENT_UPLOADS"] is None


def cron_config(archive, tmp_path, **extra):
    config = {"archive_type": "opensearch", "archive_url": archive.base_url, "sites": SITES, "local_site": "bari",
              "cache_path": str(tmp_path / "perfsonar-cache.json"), "local_mbps": 10000}
    config.update(extra)
    return config


def test_cron_output_falls_back_to_cache_then_to_nothing(archive, tmp_path):
    good = ps.run_cron(cron_config(archive, tmp_path), transport(), now=NOW)
    assert 'PerfSONAR_Status = "ok"' in good and good.endswith("-\n")
    archive.state.mode = "http500"
    cached = ps.run_cron(cron_config(archive, tmp_path), transport(), now=NOW + HOUR)
    assert 'PerfSONAR_Status = "cached: perfSONAR archive answered HTTP 500' in cached
    assert "PerfSONAR_InMbps_torino = 400.0" in cached
    assert "PerfSONAR_Updated = {0}".format(int(NOW)) in cached
    expired = ps.run_cron(cron_config(archive, tmp_path), transport(), now=NOW + 7 * HOUR)
    assert "PerfSONAR_InMbps_torino" not in expired and 'PerfSONAR_Status = "no data:' in expired
    assert "PerfSONAR_SubmitSiteInMbps = ifThenElse(TARGET.BSaaSSubmitSite =?= \"bari\", " \
           "PerfSONAR_InMbps_bari, undefined)" in expired


def test_cron_rejects_incomplete_configuration(archive, tmp_path):
    with pytest.raises(ps.ConfigError, match="local_site"):
        ps.run_cron(cron_config(archive, tmp_path, local_site="catania"), transport(), now=NOW)
    with pytest.raises(ps.ConfigError, match="archive_url"):
        ps.run_cron(cron_config(archive, tmp_path, archive_url=""), transport(), now=NOW)


def test_cron_output_is_a_valid_classad_with_the_figures(archive, tmp_path):
    classad2 = pytest.importorskip("classad2", reason="HTCondor's classad2 bindings (htcondor 24+ wheel) missing")
    text = ps.run_cron(cron_config(archive, tmp_path), transport(), now=NOW)
    ad_text = text[:text.rindex("-\n")]
    ad = classad2.parseOne(ad_text, classad2.ParserType.Old)
    assert ad["PerfSONAR_Site"] == "bari"
    assert ad["PerfSONAR_InMbps_torino"] == pytest.approx(400.0)
    assert ad["PerfSONAR_OutMbps_torino"] == pytest.approx(300.0)
    assert ad["PerfSONAR_RttMs_bologna"] == pytest.approx(10.0, abs=0.01)
    assert ad["PerfSONAR_LossRate_torino"] == pytest.approx(0.02)
    assert ad["PerfSONAR_Origin_bologna"] == "measured"
    assert ad["PerfSONAR_AgeSeconds_torino"] == 4 * HOUR
    for site, mbps in (("torino", 400.0), ("bologna", 500.0), ("bari", 10000.0)):
        job = classad2.ClassAd({"BSaaSSubmitSite": site})
        selected = classad2.ExprTree("TARGET.PerfSONAR_SubmitSiteInMbps").eval(job, ad)
        assert selected == pytest.approx(mbps)
    unknown = classad2.ClassAd({"BSaaSSubmitSite": "catania"})
    assert classad2.ExprTree("TARGET.PerfSONAR_SubmitSiteInMbps").eval(unknown, ad) == classad2.Value.Undefined


def test_cron_entry_point_runs_outside_ansible(archive, tmp_path, perfsonar_entry_point):
    """The role's entry point with this module_utils file beside it, in a bare interpreter."""
    import json
    config = cron_config(archive, tmp_path)
    del config["local_mbps"]
    config_path = tmp_path / "ingest.json"
    config_path.write_text(json.dumps(config))
    result = perfsonar_entry_point("perfsonar_startd_cron.py", config_path)
    assert result.returncode == 0, result.stderr
    assert "PerfSONAR_InMbps_torino = 400.0" in result.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    failed = perfsonar_entry_point("perfsonar_startd_cron.py", broken)
    assert failed.returncode == 2 and "perfsonar_ingest" in failed.stderr and failed.stdout == ""


# ------------------------------------------------------------------------------------------------
# Upstream formats: what pScheduler's esmond archiver and perfSONAR's logstash pipeline really store.
# ------------------------------------------------------------------------------------------------

def ping_and_powstream(now=NOW):
    """torino <-> bari: ping (rtt) with round-trip loss; torino <-> bologna: powstream (latencybg) only."""
    out = []
    for i in range(3):
        ts = now - (i + 1) * HOUR
        out.append(Measurement(HOSTS["torino"], HOSTS["bari"], "rtt", ts, rtt_ms=18.0, loss=0.2))
        out.append(Measurement(HOSTS["bari"], HOSTS["torino"], "rtt", ts, rtt_ms=18.4, loss=0.0))
        out.append(Measurement(HOSTS["torino"], HOSTS["bologna"], "latencybg", ts, owdelay_ms=16.0, loss=0.01))
        out.append(Measurement(HOSTS["bologna"], HOSTS["torino"], "latencybg", ts, owdelay_ms=5.5, loss=0.0))
    return out


@pytest.fixture
def latency_archive():
    server = start_archive(ping_and_powstream(), clock=lambda: NOW)
    yield server
    stop_archive(server)


def test_fixture_serves_ping_loss_only_as_packet_loss_rate_bidir(latency_archive):
    """pScheduler's esmond archiver: rtt tests have packet-loss-rate-bidir, latency tests packet-loss-rate."""
    ping = latency_archive.state.esmond_metadata("packet-loss-rate-bidir", 0, NOW)
    powstream = latency_archive.state.esmond_metadata("packet-loss-rate", 0, NOW)
    assert {m["tool-name"] for m in ping} == {"pscheduler/ping"}
    assert {m["tool-name"] for m in powstream} == {"pscheduler/powstream"}
    assert all("histogram-owdelay" in [e["event-type"] for e in m["event-types"]] for m in powstream)


def test_esmond_reads_ping_loss_from_packet_loss_rate_bidir(latency_archive):
    client = ps.EsmondClient(latency_archive.esmond_url, transport())
    pairs, _stats = ps.ingest(client, ps.SiteMap(SITES), 7 * 86400, NOW)
    loss = figures(pairs, "torino", "bari", ps.METRIC_LOSS)
    assert loss["value"] == pytest.approx(0.2) and loss["origin"] == "measured" and loss["samples"] == 3
    assert figures(pairs, "bari", "torino", ps.METRIC_LOSS)["value"] == 0.0


@pytest.mark.parametrize("kind", ["esmond", "opensearch"])
def test_powstream_one_way_delay_is_read_and_sums_to_the_rtt(latency_archive, kind):
    url = latency_archive.esmond_url if kind == "esmond" else latency_archive.base_url
    client = ps.make_client({"archive_type": kind, "archive_url": url}, transport())
    pairs, _stats = ps.ingest(client, ps.SiteMap(SITES), 7 * 86400, NOW)
    out = figures(pairs, "torino", "bologna", ps.METRIC_OWDELAY)
    back = figures(pairs, "bologna", "torino", ps.METRIC_OWDELAY)
    assert out["value"] == pytest.approx(16.0) and out["origin"] == "measured" and out["samples"] == 3
    assert back["value"] == pytest.approx(5.5)
    # no ping between torino and bologna: the round trip is the two one-way delays, not twice one of them
    rtt = figures(pairs, "torino", "bologna", ps.METRIC_RTT)
    assert rtt["value"] == pytest.approx(21.5) and rtt["origin"] == "one-way"
    assert figures(pairs, "torino", "bologna", ps.METRIC_LOSS)["value"] == pytest.approx(0.01)
    # where ping ran, its RTT is used as measured
    assert figures(pairs, "torino", "bari", ps.METRIC_RTT)["value"] == pytest.approx(18.0, abs=0.01)
    attrs = dict(ps.startd_attributes(pairs, "bologna", ps.SiteMap(SITES).sites, NOW))
    assert attrs["PerfSONAR_OwDelayInMs_torino"] == "16.0" and attrs["PerfSONAR_OwDelayOutMs_torino"] == "5.5"
    assert attrs["PerfSONAR_RttMs_torino"] == "21.5"


def test_one_way_delay_in_one_direction_only_gives_no_rtt():
    doc = Measurement(HOSTS["torino"], HOSTS["bologna"], "latencybg", NOW - HOUR, owdelay_ms=16.0,
                      loss=0.0).archive_document()
    pairs = ps.PairAggregator(ps.SiteMap(SITES)).add_all(ps.opensearch_samples(doc)).summary(NOW)
    assert ps.METRIC_RTT not in pairs[("torino", "bologna")]
    assert figures(pairs, "bologna", "torino", ps.METRIC_OWDELAY)["origin"] == "reverse"


def udp_and_tcp(now=NOW):
    out = []
    for i in range(3):
        ts = now - (i + 1) * 4 * HOUR
        out.append(Measurement(HOSTS["torino"], HOSTS["bari"], "throughput", ts, throughput_bps=400e6))
        # an offered-rate UDP test at 50 Mbit/s, with loss at that rate: says nothing of the path's capacity
        for _ in range(2):
            out.append(Measurement(HOSTS["torino"], HOSTS["bari"], "throughput", ts + 60, throughput_bps=50e6,
                                   udp=True, bandwidth=50000000, loss=0.3))
    return out


@pytest.mark.parametrize("kind", ["esmond", "opensearch"])
def test_udp_offered_rate_tests_stay_out_of_throughput_and_loss(kind):
    server = start_archive(udp_and_tcp(), clock=lambda: NOW)
    try:
        url = server.esmond_url if kind == "esmond" else server.base_url
        client = ps.make_client({"archive_type": kind, "archive_url": url}, transport())
        pairs, stats = ps.ingest(client, ps.SiteMap(SITES), 7 * 86400, NOW)
    finally:
        stop_archive(server)
    tput = figures(pairs, "torino", "bari", ps.METRIC_THROUGHPUT)
    assert tput["value"] == pytest.approx(400.0) and tput["samples"] == 3
    assert ps.METRIC_LOSS not in pairs[("torino", "bari")]
    assert stats["skipped_udp_throughput"] == (1 if kind == "esmond" else 6)  # one esmond measurement, 6 runs


def test_basic_format_iso_timestamps_are_read():
    assert ps.parse_timestamp("20270115T080000Z") == 1800000000.0
    assert ps.parse_timestamp("20270115T090000.5+0100") == 1800000000.5
    assert ps.parse_timestamp("20270115T090000+01") == 1800000000.0
    assert ps.parse_timestamp("2027-01-15T08:00:00+00:00") == 1800000000.0
    assert ps.parse_timestamp("1800000000") == 1800000000.0   # esmond "ts" written as a numeric string
    assert ps.parse_timestamp(True) is None


def test_opensearch_documents_with_basic_format_times_are_used_and_bad_times_counted():
    runs = [Measurement(HOSTS["torino"], HOSTS["bari"], "throughput", NOW - HOUR, throughput_bps=400e6,
                        time_format=_basic) for _ in range(2)]
    runs.append(Measurement(HOSTS["torino"], HOSTS["bari"], "throughput", NOW - HOUR, throughput_bps=1e6,
                            time_format=lambda ts: "last tuesday"))
    server = start_archive(runs, clock=lambda: NOW)
    try:
        client = ps.OpenSearchClient(server.base_url, transport())
        pairs, stats = ps.ingest(client, ps.SiteMap(SITES), 7 * 86400, NOW)
    finally:
        stop_archive(server)
    assert figures(pairs, "torino", "bari", ps.METRIC_THROUGHPUT)["samples"] == 2
    assert stats["unreadable_timestamps"] == 1


def _basic(ts):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))


def test_opensearch_endpoints_fall_back_to_the_test_spec_when_not_normalised():
    """03-normalize_endpoints sets meta.*.ip only when it resolves the endpoints."""
    doc = Measurement(HOSTS["torino"], HOSTS["bari"], "throughput", NOW - HOUR, throughput_bps=4e8).archive_document()
    del doc["meta"]["source"], doc["meta"]["destination"]
    assert ps.opensearch_samples(doc)[0][:3] == (HOSTS["torino"], HOSTS["bari"], ps.METRIC_THROUGHPUT)
