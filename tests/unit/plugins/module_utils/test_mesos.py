# -*- coding: utf-8 -*-
"""Mesos flag tables against the upstream 1.11 documents, and the quorum/zk/resources helpers."""

from __future__ import absolute_import, division, print_function

import os
import re

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import mesos

REFERENCE = "/work/shared/reference/mesos"


def flags_documented_in(name):
    """Flags of one Mesos configuration page: the first cell of every table row (some rows have no id)."""
    path = os.path.join(REFERENCE, name + ".md")
    if not os.path.exists(path):
        pytest.skip("Mesos reference documents not found at %s" % REFERENCE)
    with open(path) as handle:
        text = handle.read()
    flags = {}
    # Some rows have no id attribute (systemd_enable_support), so match every row's first cell.
    for row in re.finditer(r"<tr[^>]*>\s*<td>(.*?)</td>", text, re.S):
        # Upstream writes booleans as --[no-]name, and three agent flags as --[no]-name.
        for match in re.finditer(r"--(\[no-\]|\[no\]-)?([a-z0-9_]+)(=VALUE)?", row.group(1)):
            flags[match.group(2)] = "bool" if match.group(1) else "value"
    assert flags, "no flag rows parsed from %s" % path
    return flags


@pytest.mark.parametrize("page,table", [
    ("master", mesos.MASTER_FLAGS), ("agent", mesos.AGENT_FLAGS), ("master-and-agent", mesos.COMMON_FLAGS)])
def test_shipped_flag_tables_match_upstream_docs(page, table):
    documented = flags_documented_in(page)
    assert sorted(set(documented) - set(table)) == [], "flags missing from module_utils/mesos.py"
    assert sorted(set(table) - set(documented)) == [], "flags in module_utils/mesos.py that Mesos does not have"
    assert table == documented


def test_role_defaults_use_only_real_flags():
    """The flags the mesos role passes by default are all in the tables."""
    assert mesos.flag_errors("master", {"quorum": 2, "zk": "zk://a:2181/mesos", "work_dir": "/var/lib/mesos",
                                        "cluster": "bsaas", "hostname_lookup": False, "log_dir": "/var/log"}) == []
    assert mesos.flag_errors("agent", {
        "master": "zk://a:2181/mesos", "containerizers": "docker,mesos", "network_cni_config_dir": "/etc/cni",
        "network_cni_plugins_dir": "/opt/cni/bin", "attributes": "site:torino", "resources": "cpus:1",
        "docker_stop_timeout": "30secs", "executor_registration_timeout": "5mins", "work_dir": "/var/lib/mesos",
        "systemd_enable_support": False, "image_providers": "docker", "isolation": "filesystem/linux,docker/runtime",
    }) == []


def test_typo_names_the_closest_flag():
    errors = mesos.flag_errors("agent", {"containerisers": "docker,mesos"})
    assert errors == ["'containerisers' is not a mesos-agent 1.11 flag. Did you mean 'containerizers'?"]


def test_master_flag_on_agent_is_rejected():
    assert mesos.flag_errors("agent", {"quorum": 2})
    assert not mesos.flag_errors("master", {"quorum": 2})


def test_boolean_flag_needs_boolean():
    assert mesos.flag_errors("master", {"authenticate_agents": "yes"})
    assert not mesos.flag_errors("master", {"authenticate_agents": True})
    assert not mesos.flag_errors("master", {"authenticate_agents": "false"})


def test_env_rendering():
    assert mesos.flags_to_env({"quorum": 2, "hostname_lookup": False, "containerizers": ["docker", "mesos"]}) == [
        ("MESOS_CONTAINERIZERS", "docker,mesos"), ("MESOS_HOSTNAME_LOOKUP", "false"), ("MESOS_QUORUM", "2")]


@pytest.mark.parametrize("masters,quorum", [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_quorum_is_a_strict_majority(masters, quorum):
    assert mesos.quorum_size(masters) == quorum
    assert quorum > masters / 2.0


def test_zk_url():
    assert mesos.zk_url(["fe1", "fe2:2182"], 2181, "/mesos") == "zk://fe1:2181,fe2:2182/mesos"
    with pytest.raises(ValueError):
        mesos.zk_url([])


def test_agent_resources_fraction():
    assert mesos.agent_resources(16, 65536, 100000, 0.5, 4096) == "cpus:8.0;mem:30720;disk:50000"
    with pytest.raises(ValueError):
        mesos.agent_resources(16, 65536, 100000, 1.5)
