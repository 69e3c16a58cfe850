# -*- coding: utf-8 -*-
"""The apps the bsaas role sends to Marathon: valid against Marathon's AppDefinition.json, placed and
health-checked as intended, with HTCondor config that HTCondor's own parser reads as intended."""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys
import textwrap

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.htcfarm.bsaas.plugins.filter import marathon as bsaas_filter

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed for this interpreter")
SCHEMA = "/work/shared/reference/marathon/schema/AppDefinition.json"

INSTANCE = {"name": "atlas", "subnet": "10.233.8.0/24", "executors": 6, "submit_host": "fe1.torino.example.org",
            "cm_host": "fe2.torino.example.org", "executors_per_host": 2, "ccb": True,
            "private_network_name": "torino", "execute_resources": {"cpus": 8, "mem": 16384}}
SETTINGS = {"images": {"cm": "registry.example.org/htcondor/cm:24.0-el9",
                       "submit": "registry.example.org/htcondor/submit:24.0-el9",
                       "execute": "registry.example.org/htcondor/execute:24.0-el9"}}


@pytest.fixture(scope="module")
def validator():
    if not os.path.exists(SCHEMA):
        pytest.skip("Marathon AppDefinition.json not found at %s" % SCHEMA)
    with open(SCHEMA) as handle:
        schema = json.load(handle)
    # The schema's $schema URI is not one jsonschema recognises; it is written for draft 4.
    return jsonschema.Draft4Validator(schema)


def apps_by_group(instance=None, settings=None):
    apps = bsaas_filter.bsaas_apps(instance or INSTANCE, settings or SETTINGS)
    return dict((app["labels"]["bsaas-daemons"], app) for app in apps)


@pytest.mark.parametrize("instance", [
    INSTANCE,
    {"name": "cms", "subnet": "10.233.9.0/24", "executors": 0, "submit_host": "fe3"},
    {"name": "lhcb", "subnet": "10.233.10.0/24", "executors": 100, "submit_host": "fe3", "ccb": False,
     "site_attribute_like": "torino|bari"},
])
def test_every_generated_app_validates_against_marathon_schema(validator, instance):
    for app in bsaas_filter.bsaas_apps(instance, SETTINGS):
        errors = sorted(validator.iter_errors(app), key=lambda e: list(e.path))
        assert not errors, "%s: %s" % (app["id"], [(list(e.path), e.message) for e in errors])


def test_schema_catches_a_broken_app(validator):
    """The check can fail: a wrong health-check protocol and a bad constraint operator are rejected."""
    app = apps_by_group()["execute"]
    app["healthChecks"][0]["protocol"] = "MESOS_SSH"
    app["constraints"].append(["hostname", "SPREAD"])
    assert len(list(validator.iter_errors(app))) == 2


def test_placement_submitter_pinned_executors_spread():
    apps = apps_by_group()
    assert apps["submit"]["constraints"] == [["hostname", "CLUSTER", "fe1.torino.example.org"]]
    assert apps["cm"]["constraints"] == [["hostname", "CLUSTER", "fe2.torino.example.org"]]
    assert ["hostname", "GROUP_BY"] in apps["execute"]["constraints"]
    assert ["hostname", "MAX_PER", "2"] in apps["execute"]["constraints"]
    assert apps["execute"]["instances"] == 6 and apps["cm"]["instances"] == apps["submit"]["instances"] == 1


def test_health_checks_are_mesos_level_on_the_shared_port_and_ssh():
    apps = apps_by_group()
    for app in apps.values():
        assert all(h["protocol"].startswith("MESOS_") for h in app["healthChecks"])
        assert app["healthChecks"][0]["port"] == 9618
    assert [h["port"] for h in apps["submit"]["healthChecks"]] == [9618, 22]


def test_network_and_fixed_addresses():
    apps = apps_by_group()
    for app in apps.values():
        assert app["networks"] == [{"mode": "container", "name": "bsaas-atlas"}]
        assert app["env"]["CONDOR_HOST"] == "10.233.8.10"
    assert {"key": "ip", "value": "10.233.8.10"} in apps["cm"]["container"]["docker"]["parameters"]
    assert {"key": "ip", "value": "10.233.8.11"} in apps["submit"]["container"]["docker"]["parameters"]


def test_secrets_come_from_read_only_host_paths_not_the_json():
    apps = apps_by_group()
    for app in apps.values():
        mounts = dict((v["containerPath"], v) for v in app["container"]["volumes"])
        assert mounts["/etc/condor/passwords-orig.d"]["hostPath"] == "/etc/bsaas/atlas/secrets/passwords.d"
        assert mounts["/etc/condor/tokens-orig.d"]["hostPath"] == "/etc/bsaas/atlas/secrets/tokens.d"
        assert all(v["mode"] == "RO" for v in app["container"]["volumes"])
        # Only addresses and switches in the environment; nothing key-like.
        assert set(app["env"]) <= set(["CONDOR_HOST", "USE_POOL_PASSWORD", "NUM_CPUS", "MEMORY"])


def test_executor_resources_reach_the_image_environment():
    execute = apps_by_group()["execute"]
    assert (execute["cpus"], execute["mem"]) == (8, 16384)
    assert (execute["env"]["NUM_CPUS"], execute["env"]["MEMORY"]) == ("8", "16384")


def test_missing_submit_host_is_named():
    broken = dict(INSTANCE)
    del broken["submit_host"]
    with pytest.raises(AnsibleFilterError, match="submit_host"):
        bsaas_filter.FilterModule().filters()["marathon_bsaas_apps"](broken, SETTINGS)


def test_subnet_too_small_is_named():
    with pytest.raises(AnsibleFilterError, match="outside subnet"):
        bsaas_filter.FilterModule().filters()["marathon_bsaas_apps"](dict(INSTANCE, subnet="10.0.0.0/29"), SETTINGS)


PARSE = textwrap.dedent("""
    import json, os, sys
    import htcondor2
    htcondor2.reload_config()
    print(json.dumps(dict((k, htcondor2.param.get(k)) for k in sys.argv[1:])))
""")


@pytest.mark.parametrize("group,role", [("cm", "CentralManager"), ("submit", "Submit"), ("execute", "Execute")])
def test_condor_config_read_by_htcondor(tmp_path, group, role):
    """Image-like base config (role + CONDOR_HOST from the environment) plus our file in LOCAL_CONFIG_DIR."""
    pytest.importorskip("htcondor2", reason="needs the htcondor 25 wheel (htcondor2)")
    config_dir = tmp_path / "config.d"
    config_dir.mkdir()
    (config_dir / "50-bsaas.conf").write_text(bsaas_filter.bsaas_condor_config(INSTANCE, group))
    base = tmp_path / "condor_config"
    base.write_text("CONDOR_HOST = 10.233.8.10\nuse ROLE: %s\nLOCAL_CONFIG_DIR = %s\n" % (role, config_dir))
    knobs = ["CCB_ADDRESS", "PRIVATE_NETWORK_NAME", "TRUST_DOMAIN", "SEC_DEFAULT_AUTHENTICATION",
             "USE_SHARED_PORT", "STARTD_ATTRS", "DAEMON_LIST"]
    env = dict(os.environ, CONDOR_CONFIG=str(base))
    out = subprocess.check_output([sys.executable, "-c", PARSE] + knobs, env=env)
    values = json.loads(out.decode("utf-8"))
    assert values["CCB_ADDRESS"] == "10.233.8.10"
    assert values["PRIVATE_NETWORK_NAME"] == "torino"
    assert values["TRUST_DOMAIN"] == "atlas.bsaas"
    assert values["SEC_DEFAULT_AUTHENTICATION"].upper() == "REQUIRED"
    if group == "execute":
        assert "BSAAS_INSTANCE" in values["STARTD_ATTRS"] and "STARTD" in values["DAEMON_LIST"].upper()
