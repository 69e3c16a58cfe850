# -*- coding: utf-8 -*-
"""One archive read per period for the pool: the publisher's per-site ads and the execute nodes' copy of them.

The archive is the real loopback HTTP archive of test_perfsonar.py; the collector's side (which ad matches a
constraint) is decided by HTCondor's own ClassAd library, classad2.
"""

from __future__ import absolute_import, division, print_function

import json

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import perfsonar as ps
from ansible_collections.htcfarm.bsaas.tests.unit.plugins.module_utils.fixtures.perfsonar.archive_server import (
    start_archive, stop_archive)
from ansible_collections.htcfarm.bsaas.tests.unit.plugins.module_utils.test_perfsonar import (
    HOUR, NOW, SITES, mesh)

try:
    import classad2
except ImportError:  # Python 3.6 (EL7): no wheel; the ClassAd checks skip, the rest still runs
    classad2 = None
needs_classad2 = pytest.mark.skipif(classad2 is None, reason="HTCondor's classad2 bindings (htcondor 24+ wheel) missing")


@pytest.fixture
def archive():
    server = start_archive(mesh(), clock=lambda: NOW)
    yield server
    stop_archive(server)


def publish_config(archive, tmp_path, **extra):
    config = {"archive_type": "esmond", "archive_url": archive.esmond_url, "sites": SITES, "local_mbps": 10000,
              "cache_path": str(tmp_path / "published.json"), "pool_name": "infn", "cache_max_age_seconds": 6 * HOUR}
    config.update(extra)
    return config


def collector_of(ads):
    """condor_status -any -constraint C -long over these ads: classad2 decides which match.

    Without classad2 (Python 3.6), an ad matches when the constraint is exactly the site constraint of its site.
    """
    if classad2 is None:
        def by_site(constraint):
            return "\n".join(ps.render_advertise_input([ad]) for ad in ads
                             if constraint == ps.site_ad_constraint(dict(ad)["PerfSONAR_Site"].strip('"')))
        return by_site
    parsed = [classad2.parseOne(ps.render_advertise_input([ad]), classad2.ParserType.Old) for ad in ads]

    def query(constraint):
        expr = classad2.ExprTree(constraint)
        return "\n".join(ps.render_advertise_input([ad]) for ad, cad in zip(ads, parsed) if expr.eval(cad) is True)

    return query


@needs_classad2
def test_one_archive_read_gives_every_site_its_ad(archive, tmp_path):
    ads, status, count = ps.site_ads(publish_config(archive, tmp_path), ps.urllib_transport(), now=NOW)
    reads = len(archive.state.requests)
    assert status == "ok" and count == 3 and [dict(ad)["PerfSONAR_Site"] for ad in ads] == [
        '"bari"', '"bologna"', '"torino"']
    text = ps.render_advertise_input(ads)
    parsed = [classad2.parseOne(block, classad2.ParserType.Old) for block in text.split("\n\n")]
    assert [ad["MyType"] for ad in parsed] == ["BSaaSPerfSONAR"] * 3
    assert parsed[0]["Name"] == "perfsonar-bari@infn" and parsed[0]["ClassAdLifetime"] == 6 * HOUR
    assert parsed[0]["PerfSONAR_InMbps_torino"] == pytest.approx(400.0)
    assert parsed[2]["PerfSONAR_InMbps_bari"] == pytest.approx(300.0)
    # the same figures an execute node reading the archive itself would publish, for every site
    for ad in ads:
        site = dict(ad)["PerfSONAR_Site"].strip('"')
        own = ps.run_cron(publish_config(archive, tmp_path, local_site=site, cache_path=None), ps.urllib_transport(),
                          now=NOW)
        assert ps.render_startd_cron_output(ad[3:]) == own
    assert reads > 0 and len(archive.state.requests) == reads * 4


@needs_classad2
def test_execute_nodes_copy_their_site_from_the_collector_without_reading_the_archive(archive, tmp_path):
    ads, _status, _count = ps.site_ads(publish_config(archive, tmp_path), ps.urllib_transport(), now=NOW)
    reads = len(archive.state.requests)
    query = collector_of(ads)
    outputs = []
    for node in range(20):
        config = {"source": "collector", "local_site": "bari", "cache_path": str(tmp_path / ("site-%d.json" % node))}
        outputs.append(ps.run_cron(config, None, now=NOW + 60, query=query))
    assert len(archive.state.requests) == reads
    direct = ps.run_cron(publish_config(archive, tmp_path, local_site="bari", cache_path=None),
                         ps.urllib_transport(), now=NOW)
    assert set(outputs) == {direct}
    ad = classad2.parseOne(outputs[0][:outputs[0].rindex("-\n")], classad2.ParserType.Old)
    job = classad2.ClassAd({"BSaaSSubmitSite": "torino"})
    assert classad2.ExprTree("TARGET.PerfSONAR_SubmitSiteInMbps").eval(job, ad) == pytest.approx(400.0)


def test_collector_trouble_publishes_the_last_figures_then_only_the_status(archive, tmp_path):
    ads, _status, _count = ps.site_ads(publish_config(archive, tmp_path), ps.urllib_transport(), now=NOW)
    config = {"source": "collector", "local_site": "bari", "cache_path": str(tmp_path / "site.json"),
              "cache_max_age_seconds": 6 * HOUR}
    ps.run_cron(config, None, now=NOW, query=collector_of(ads))

    def down(constraint):
        raise ps.ArchiveError("condor_status failed (1): cannot reach the collector")

    cached = ps.run_cron(config, None, now=NOW + HOUR, query=down)
    assert 'PerfSONAR_Status = "cached: condor_status failed (1): cannot reach the collector"' in cached
    assert "PerfSONAR_InMbps_torino = 400.0" in cached and "PerfSONAR_Updated = %d" % NOW in cached
    expired = ps.run_cron(config, None, now=NOW + 7 * HOUR, query=down)
    assert "PerfSONAR_InMbps_torino" not in expired and 'PerfSONAR_Status = "no data: condor_status' in expired
    assert "PerfSONAR_Site = \"bari\"" in expired and "PerfSONAR_SubmitSiteInMbps = undefined" in expired
    nothing = ps.run_cron(dict(config, cache_path=str(tmp_path / "other.json")), None, now=NOW,
                          query=collector_of([]))
    assert "no perfSONAR figures for site bari" in nothing and "bsaas-perfsonar-publish" in nothing
    if classad2 is not None:
        ad = classad2.parseOne(expired[:expired.rindex("-\n")], classad2.ParserType.Old)
        assert ad["PerfSONAR_Site"] == "bari"


def test_publisher_keeps_the_last_good_figures_while_the_archive_is_down(archive, tmp_path):
    config = publish_config(archive, tmp_path)
    ps.site_ads(config, ps.urllib_transport(), now=NOW)
    archive.state.mode = "http500"
    ads, status, _count = ps.site_ads(config, ps.urllib_transport(), now=NOW + HOUR)
    assert status.startswith("cached: perfSONAR archive answered HTTP 500")
    assert dict(ads[0])["PerfSONAR_InMbps_torino"] == "400.0"
    ads, status, _count = ps.site_ads(config, ps.urllib_transport(), now=NOW + 7 * HOUR)
    assert status.startswith("no data:") and "PerfSONAR_InMbps_torino" not in dict(ads[0])


def test_long_output_parser_reads_condor_status_blocks():
    text = ('MyType = "BSaaSPerfSONAR"\nName = "perfsonar-bari@infn"\nPerfSONAR_Site = "bari"\n'
            'PerfSONAR_SubmitSiteInMbps = ifThenElse(TARGET.BSaaSSubmitSite =?= "bari",PerfSONAR_InMbps_bari,undefined)'
            '\n\nMyType = "BSaaSPerfSONAR"\nPerfSONAR_Site = "torino"\n\n')
    ads = ps.parse_long_ads(text)
    assert len(ads) == 2 and ads[0][3][1].startswith("ifThenElse(") and ads[1] == [
        ("MyType", '"BSaaSPerfSONAR"'), ("PerfSONAR_Site", '"torino"')]
    assert ps.site_ad_constraint("bari") == 'MyType == "BSaaSPerfSONAR" && PerfSONAR_Site == "bari"'


@needs_classad2
def test_publisher_entry_point_prints_the_ads_outside_ansible(archive, tmp_path, perfsonar_entry_point):
    config_path = tmp_path / "publish.json"
    config_path.write_text(json.dumps(publish_config(archive, tmp_path)))
    result = perfsonar_entry_point("perfsonar_publish.py", config_path, "--print")
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.split("\n\n")
    assert len(blocks) == 3 and all(classad2.parseOne(b, classad2.ParserType.Old)["MyType"] == "BSaaSPerfSONAR"
                                    for b in blocks)
    # without --print it hands the ads to condor_advertise; a missing one is a clear failure, not a traceback
    config_path.write_text(json.dumps(publish_config(archive, tmp_path, condor_advertise=str(tmp_path / "nope"))))
    failed = perfsonar_entry_point("perfsonar_publish.py", config_path)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr, failed.stderr
