# -*- coding: utf-8 -*-
"""calicoctl v1 resources checked against the Calico v2.6 resource reference pages."""

from __future__ import absolute_import, division, print_function

import os
import re

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import calico

yaml = pytest.importorskip("yaml")
RESOURCES = "/work/shared/reference/calico/reference/calicoctl/resources"


def reference_page(kind):
    path = os.path.join(RESOURCES, kind + ".md")
    if not os.path.exists(path):
        pytest.skip("Calico reference pages not found at %s" % RESOURCES)
    with open(path) as handle:
        return handle.read()


def documented_fields(kind):
    """Field names of every table on a resource page (first column), minus the datastore table."""
    fields = set(["apiVersion", "kind", "metadata", "spec"])
    for line in reference_page(kind).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0] and not cells[0].startswith("-"):
            name = re.sub(r"\\\*|\*| \(deprecated\)", "", cells[0]).strip()
            fields.add(name)
    return fields


def sample(kind):
    block = re.search(r"```yaml\n(.*?)```", reference_page(kind), re.S).group(1)
    return yaml.safe_load(block)


def keys_of(resource):
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                found.add(key)
                if key not in ("labels",):  # label keys are user data, not schema fields
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(resource)
    return found


def assert_matches_reference(resource):
    kind = resource["kind"].lower()
    kind = {"ippool": "ippool", "bgppeer": "bgppeer"}.get(kind, kind)
    reference = sample(kind)
    assert resource["apiVersion"] == reference["apiVersion"] == "v1"
    assert resource["kind"] == reference["kind"]
    unknown = keys_of(resource) - documented_fields(kind)
    assert not unknown, "fields not in the Calico v2.6 %s reference: %s" % (kind, sorted(unknown))


def test_ip_pool_matches_reference_sample():
    pool = calico.ip_pool("10.1.0.0/16", ipip_mode="cross-subnet", nat_outgoing=True)
    assert pool == sample("ippool")
    assert_matches_reference(calico.ip_pool("10.233.0.0/16"))


def test_ip_pool_without_ipip_and_bad_cidrs():
    assert "ipip" not in calico.ip_pool("10.2.0.0/16", ipip_mode="off")["spec"]
    with pytest.raises(calico.CalicoError, match="host bits"):
        calico.ip_pool("10.2.0.1/16")
    with pytest.raises(calico.CalicoError, match="not a CIDR"):
        calico.ip_pool("ten.two")
    with pytest.raises(calico.CalicoError, match="ipip mode"):
        calico.ip_pool("10.2.0.0/16", ipip_mode="sometimes")


def test_bgp_peer_matches_reference_sample():
    assert calico.bgp_peer("192.168.1.1", 63400, node="rack1-host1") == sample("bgppeer")
    global_peer = calico.bgp_peer("192.0.2.1", "64512")
    assert global_peer["metadata"] == {"scope": "global", "peerIP": "192.0.2.1"}
    assert_matches_reference(global_peer)


def test_as_numbers():
    assert calico.check_as_number("1.10") == "1.10"
    with pytest.raises(calico.CalicoError):
        calico.check_as_number(0)
    with pytest.raises(calico.CalicoError):
        calico.check_as_number("AS64512")


def test_node_resource_fields():
    node = calico.node_resource("fe1", "10.244.0.1/24", 64512)
    assert node["spec"]["bgp"] == {"asNumber": 64512, "ipv4Address": "10.244.0.1/24"}
    assert_matches_reference(node)


def test_instance_profile_and_policy_isolate_instances():
    profile = calico.instance_profile("atlas")
    policy = calico.instance_policy("atlas", ["192.0.2.0/24"], ["198.51.100.0/24"])
    assert_matches_reference(profile)
    assert_matches_reference(policy)
    assert profile["metadata"]["labels"] == {"bsaas-instance": "atlas"}
    assert policy["spec"]["selector"] == "bsaas-instance == 'atlas'"
    # Nothing from another instance is allowed: every allow rule names this instance or explicit CIDRs.
    for rule in policy["spec"]["ingress"] + profile["spec"]["ingress"]:
        source = rule["source"]
        assert source.get("selector") == "bsaas-instance == 'atlas'" or source.get("nets")
    ssh = [r for r in policy["spec"]["ingress"] if r.get("destination", {}).get("ports") == [22]]
    assert ssh and ssh[0]["source"]["nets"] == ["192.0.2.0/24"]


def test_instance_name_is_checked():
    with pytest.raises(calico.CalicoError, match="lowercase"):
        calico.instance_profile("ATLAS pool")


def test_cni_config_for_mesos():
    config = calico.cni_config("bsaas-atlas", ["https://fe1:2379", "https://fe2:2379"], "/ca", "/c", "/k")
    assert config["type"] == "calico" and config["ipam"] == {"type": "calico-ipam"}
    assert config["etcd_endpoints"] == "https://fe1:2379,https://fe2:2379"


def test_fixed_address_in_subnet():
    assert calico.instance_subnet_host("10.233.8.0/24", 10) == "10.233.8.10"
    with pytest.raises(calico.CalicoError):
        calico.instance_subnet_host("10.233.8.0/30", 10)


def test_instance_subnets_must_sit_in_a_pool():
    pools = ["10.233.0.0/16"]
    assert calico.subnets_outside_pools(["10.233.8.0/24", "10.234.0.0/24", "nonsense"], pools) == [
        "10.234.0.0/24", "nonsense"]
