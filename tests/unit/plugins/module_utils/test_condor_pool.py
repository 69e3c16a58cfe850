"""A realistic three-site native pool, rendered per host and read back through HTCondor's own parser.

Torino: primary central manager and a submitter, routable. Bologna: fall-back central manager and
executors, routable. Bari: executors behind NAT, reachable only through CCB. The settings start from
the htcondor role's defaults, so the test proves what the role writes by default.
"""
import os
import sys

import pytest
import yaml

from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor

ROLE_DEFAULTS = os.path.join(os.path.dirname(condor.__file__), "..", "..", "roles", "htcondor", "defaults", "main.yml")

GROUPS = {
    "htcondor_central_managers": ["cm.to.infn.example", "cm.bo.infn.example"],
    "htcondor_submitters": ["submit.to.infn.example"],
    "htcondor_executors": ["wn01.bo.infn.example", "wn01.ba.infn.example", "wn02.ba.infn.example"],
}
SITES = {
    "torino": dict(hosts=["cm.to.infn.example", "submit.to.infn.example"], inbound=True, ccb=""),
    "bologna": dict(hosts=["cm.bo.infn.example", "wn01.bo.infn.example"], inbound=True, ccb=""),
    "bari": dict(hosts=["wn01.ba.infn.example", "wn02.ba.infn.example"], inbound=False, ccb="$(COLLECTOR_HOST)"),
}
HOSTVARS = {}
for site, spec in SITES.items():
    for name in spec["hosts"]:
        HOSTVARS[name] = {"bsaas_site_name": site, "htcondor_site_inbound_reachable": spec["inbound"],
                          "htcondor_ccb_address": spec["ccb"], "htcondor_private_network_name": site}


def role_settings(host):
    with open(ROLE_DEFAULTS) as handle:
        defaults = yaml.safe_load(handle)
    settings = dict((k[len("htcondor_"):], v) for k, v in defaults.items() if "{{" not in str(v))
    settings["pool_domain"] = "bsaas.infn.example"
    hv = HOSTVARS[host]
    settings["ccb_address"] = hv["htcondor_ccb_address"]
    settings["private_network_name"] = hv["htcondor_private_network_name"]
    return settings


def run_command(args, data=None, environ_update=None):
    import subprocess
    env = dict(os.environ)
    env.update(environ_update or {})
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, universal_newlines=True)
    out, err = proc.communicate(data)
    return proc.returncode, out, err


READ = ["DAEMON_LIST", "CONDOR_HOST", "COLLECTOR_HOST", "SEC_DEFAULT_AUTHENTICATION", "SEC_DEFAULT_ENCRYPTION",
        "SEC_DEFAULT_INTEGRITY", "SEC_DEFAULT_AUTHENTICATION_METHODS", "CCB_ADDRESS", "USE_SHARED_PORT",
        "SHARED_PORT_PORT", "PRIVATE_NETWORK_NAME", "TRUST_DOMAIN", "UID_DOMAIN", "HAD_LIST", "HAD_CONTROLLEE",
        "MASTER_NEGOTIATOR_CONTROLLER", "SLOT_TYPE_1_PARTITIONABLE", "NUM_SLOTS_TYPE_1", "ALLOW_WRITE",
        "COLLECTOR.MAX_FILE_DESCRIPTORS", "SEC_TOKEN_DIRECTORY"]


def effective_config(tmp_path, host):
    fragments = condor.host_fragments(host, GROUPS, role_settings(host))
    config_dir = tmp_path / host
    config_dir.mkdir()
    for name, fragment in fragments.items():
        (config_dir / (name + ".conf")).write_text(condor.render_fragment(fragment["knobs"], fragment["use"], name))
    harness = condor.ConfigHarness(str(config_dir), "zz-none.conf", None, None)
    try:
        parsed = condor.parse_with_bindings(run_command, sys.executable, harness.root, None, READ)
    finally:
        harness.cleanup()
    assert parsed["error"] is None, parsed["error"]
    unknown = condor.unknown_knobs([k for f in fragments.values() for k in f["knobs"]], parsed["known"])
    assert unknown == [], unknown
    return parsed["after"]


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    pytest.importorskip("htcondor2", reason="needs htcondor2 from the htcondor wheel (HTCondor's parser)")
    base = tmp_path_factory.mktemp("pool")
    return dict((host, effective_config(base, host)) for host in HOSTVARS)


def test_daemons_per_host_role(pool):
    assert pool["cm.to.infn.example"]["DAEMON_LIST"] == "MASTER COLLECTOR NEGOTIATOR HAD REPLICATION"
    assert pool["cm.bo.infn.example"]["DAEMON_LIST"] == "MASTER COLLECTOR NEGOTIATOR HAD REPLICATION"
    assert pool["submit.to.infn.example"]["DAEMON_LIST"] == "MASTER SCHEDD"
    for worker in ("wn01.bo.infn.example", "wn01.ba.infn.example", "wn02.ba.infn.example"):
        assert pool[worker]["DAEMON_LIST"] == "MASTER STARTD"
        assert pool[worker]["SLOT_TYPE_1_PARTITIONABLE"] == "true"
        assert pool[worker]["NUM_SLOTS_TYPE_1"] == "1"


def test_every_host_reports_to_both_central_managers(pool):
    for host, conf in pool.items():
        assert conf["CONDOR_HOST"] == "cm.to.infn.example, cm.bo.infn.example", host
        assert conf["COLLECTOR_HOST"] == "cm.to.infn.example, cm.bo.infn.example", host


def test_security_is_required_with_idtokens_everywhere(pool):
    for host, conf in pool.items():
        assert conf["SEC_DEFAULT_AUTHENTICATION"].upper() == "REQUIRED", host
        assert conf["SEC_DEFAULT_ENCRYPTION"].upper() == "REQUIRED", host
        assert conf["SEC_DEFAULT_INTEGRITY"].upper() == "REQUIRED", host
        assert conf["SEC_DEFAULT_AUTHENTICATION_METHODS"].replace(" ", "") == "FS,IDTOKENS", host
        assert conf["TRUST_DOMAIN"] == conf["UID_DOMAIN"] == "bsaas.infn.example"
        assert conf["SEC_TOKEN_DIRECTORY"] == "/etc/condor/tokens.d"


def test_ccb_only_where_the_site_is_behind_nat(pool):
    for host, conf in pool.items():
        behind_nat = host.endswith(".ba.infn.example")
        assert ("CCB_ADDRESS" in conf) == behind_nat, host
        if behind_nat:
            assert conf["CCB_ADDRESS"] == "cm.to.infn.example, cm.bo.infn.example"
        assert conf["USE_SHARED_PORT"] == "true" and conf["SHARED_PORT_PORT"] == "9618"
        assert conf["PRIVATE_NETWORK_NAME"] == HOSTVARS[host]["bsaas_site_name"]


def test_fall_back_central_manager_through_had(pool):
    for cm in GROUPS["htcondor_central_managers"]:
        conf = pool[cm]
        assert conf["HAD_LIST"] == "cm.to.infn.example:51450, cm.bo.infn.example:51450"
        assert conf["HAD_CONTROLLEE"] == "NEGOTIATOR" and conf["MASTER_NEGOTIATOR_CONTROLLER"] == "HAD"
        assert conf["COLLECTOR.MAX_FILE_DESCRIPTORS"] == "20000"
    assert "HAD_LIST" not in pool["wn01.bo.infn.example"]


def test_non_default_shared_port_goes_into_collector_host(tmp_path):
    pytest.importorskip("htcondor2", reason="needs htcondor2 from the htcondor wheel (HTCondor's parser)")
    settings = role_settings("wn01.ba.infn.example")
    settings["shared_port_port"] = 9619
    fragments = condor.host_fragments("wn01.ba.infn.example", GROUPS, settings)
    assert fragments["10-bsaas-pool"]["knobs"]["COLLECTOR_HOST"] == "cm.to.infn.example:9619, cm.bo.infn.example:9619"


def test_pool_problems_accepts_the_three_sites():
    errors, warnings = condor.pool_problems(GROUPS, HOSTVARS)
    assert errors == [] and warnings == []


def test_pool_without_central_manager_is_refused():
    groups = dict(GROUPS, htcondor_central_managers=[])
    errors, _warnings = condor.pool_problems(groups, HOSTVARS)
    assert errors and "the pool has no central manager" in errors[0]
    assert "htcondor_central_managers" in errors[0]


def test_submitter_as_executor_at_ccb_only_site_without_ccb_is_refused():
    groups = dict(GROUPS, htcondor_submitters=["wn01.ba.infn.example"])
    hostvars = dict(HOSTVARS)
    hostvars["wn01.ba.infn.example"] = dict(HOSTVARS["wn01.ba.infn.example"], htcondor_ccb_address="")
    errors, _warnings = condor.pool_problems(groups, hostvars)
    assert len(errors) == 1
    assert errors[0].startswith("wn01.ba.infn.example is a submitter listed as executor at a site reachable only "
                                "through CCB (htcondor_site_inbound_reachable=false, site bari)")
    assert "Set htcondor_ccb_address" in errors[0]


def test_submitter_behind_nat_warns_about_executors_behind_other_nat():
    groups = dict(GROUPS, htcondor_submitters=["submit.na.infn.example"])
    hostvars = dict(HOSTVARS)
    hostvars["submit.na.infn.example"] = {"htcondor_site_inbound_reachable": False,
                                          "htcondor_ccb_address": "$(COLLECTOR_HOST)",
                                          "htcondor_private_network_name": "napoli"}
    errors, warnings = condor.pool_problems(groups, hostvars)
    assert errors == []
    assert "wn01.ba.infn.example, wn02.ba.infn.example" in warnings[0]


def test_central_manager_behind_nat_and_too_many_are_refused():
    hostvars = dict(HOSTVARS)
    hostvars["cm.bo.infn.example"] = dict(HOSTVARS["cm.bo.infn.example"], htcondor_site_inbound_reachable=False)
    errors, _warnings = condor.pool_problems(GROUPS, hostvars)
    assert any("central manager cm.bo.infn.example" in e for e in errors)
    groups = dict(GROUPS, htcondor_central_managers=["a", "b", "c"])
    errors, _warnings = condor.pool_problems(groups, HOSTVARS)
    assert any("lists 3 hosts" in e for e in errors)
