"""condor_pool_wait: what is missing, the wait loop, and a real bindings query against a closed loopback port."""
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(condor.__file__), "..", "..", "..", "..", ".."))

# Ads as condor_status -long prints them (old ClassAd syntax), for a pool that is half up.
POOL_ADS = """
MyType = "Collector"
Name = "bsaas.infn.example@cm.to.infn.example"
Machine = "cm.to.infn.example"

MyType = "Negotiator"
Name = "cm.to.infn.example"
Machine = "cm.to.infn.example"

MyType = "Scheduler"
Name = "submit.to.infn.example"
Machine = "submit.to.infn.example"

MyType = "Machine"
Name = "slot1@wn01.bo.infn.example"
Machine = "wn01.bo.infn.example"
SlotType = "Partitionable"
TotalSlotCpus = 16
Cpus = 12

MyType = "Machine"
Name = "slot1_1@wn01.bo.infn.example"
Machine = "wn01.bo.infn.example"
SlotType = "Dynamic"
Cpus = 4
"""


def parsed_ads():
    classad2 = pytest.importorskip("classad2", reason="needs classad2 from the htcondor wheel")
    ads = []
    for ad in classad2.parseAds(POOL_ADS):
        ads.append(dict((k, ad.eval(k)) for k in condor.POOL_AD_ATTRS if k in ad))
    return ads


def test_complete_pool_has_no_shortfall():
    ads = parsed_ads()
    assert condor.pool_shortfall(ads, "cm.to.infn.example", ["submit.to.infn.example"], 1, 2, 16) == []


def test_shortfall_names_each_missing_piece():
    missing = condor.pool_shortfall(parsed_ads(), "cm.bo.infn.example", ["submit.ba.infn.example"], 3, 4, 32)
    assert missing == [
        "collector on cm.bo.infn.example (seen: cm.to.infn.example)",
        "negotiator on cm.bo.infn.example",
        "schedd submit.ba.infn.example",
        "3 startd host(s), 1 reporting (wn01.bo.infn.example)",
        "4 slot(s), 2 reporting",
        "32 CPU(s) in slots, 16 reporting",
    ]


def test_wait_loop_succeeds_when_the_pool_fills_up():
    full = parsed_ads()
    snapshots = [(None, "connection refused"), (full[:3], None), (full, None)]
    now = [0.0]
    missing, ads, error, elapsed = condor.wait_for_pool(
        lambda: snapshots.pop(0), dict(central_manager="cm.to.infn.example", min_startds=1),
        timeout=60, interval=5, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert missing == [] and len(ads) == 5 and elapsed == 10


def test_wait_loop_times_out_with_what_is_missing():
    now = [0.0]
    missing, _ads, error, elapsed = condor.wait_for_pool(
        lambda: (None, "connection refused"), dict(min_startds=1), timeout=12, interval=5,
        clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert missing == ["an answer from the collector"] and error == "connection refused" and elapsed == 12


def test_module_against_a_collector_that_does_not_answer(tmp_path):
    pytest.importorskip("htcondor2", reason="needs htcondor2 from the htcondor wheel")
    (tmp_path / "condor_config").write_text("SEC_CLIENT_AUTHENTICATION = OPTIONAL\n")
    args = {"pool": "127.0.0.1:9", "central_manager": "127.0.0.1", "min_startds": 1, "timeout": 1, "interval": 1}
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS, CONDOR_CONFIG=str(tmp_path / "condor_config"))
    proc = subprocess.Popen([sys.executable, "-m", "ansible_collections.htcfarm.bsaas.plugins.modules.condor_pool_wait",
                             str(args_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=str(tmp_path), universal_newlines=True)
    out, err = proc.communicate(timeout=120)
    result = json.loads(out)
    assert result["failed"] is True and result["queried_with"] == "htcondor2"
    assert "still does not show: an answer from the collector" in result["msg"]
    assert "Last error" in result["msg"]
