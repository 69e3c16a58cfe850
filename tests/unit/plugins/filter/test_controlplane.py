# -*- coding: utf-8 -*-
"""Unit tests for the control-plane membership filters (etcd initial-cluster, ZooKeeper servers)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os
import socket
import threading

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.htcfarm.bsaas.plugins.filter import controlplane

HOSTVARS = {
    "fe-1": {"ansible_default_ipv4": {"address": "10.0.0.11"}},
    "fe-2": {"ansible_default_ipv4": {"address": "10.0.0.12"}, "etcd_address": "192.168.5.12"},
    "fe-3": {"ansible_default_ipv4": {"address": "10.0.0.13"}, "etcd_member_name": "torino-3"},
    "fe-4": {},
    "fe-5": {"etcd_address": "fd00::5"},
}


def test_etcd_members_uses_override_then_fact_then_hostname():
    members = controlplane.etcd_members(["fe-1", "fe-2", "fe-3"], HOSTVARS)
    assert [m["address"] for m in members] == ["10.0.0.11", "192.168.5.12", "10.0.0.13"]
    assert [m["name"] for m in members] == ["fe-1", "fe-2", "torino-3"]
    assert members[1]["peer_url"] == "https://192.168.5.12:2380"
    assert members[1]["client_url"] == "https://192.168.5.12:2379"


def test_etcd_initial_cluster_string_is_what_etcd_expects():
    members = controlplane.etcd_members(["fe-1", "fe-2", "fe-3"], HOSTVARS, scheme="http", peer_port=12380)
    assert controlplane.etcd_initial_cluster(members) == (
        "fe-1=http://10.0.0.11:12380,fe-2=http://192.168.5.12:12380,torino-3=http://10.0.0.13:12380")


def test_etcd_five_members_and_ipv6_brackets():
    members = controlplane.etcd_members(["fe-1", "fe-2", "fe-3", "fe-4", "fe-5"], HOSTVARS)
    assert members[3]["address"] == "fe-4"
    assert members[4]["peer_url"] == "https://[fd00::5]:2380"


@pytest.mark.parametrize("hosts", [[], ["fe-1"], ["fe-1", "fe-2"], ["fe-1", "fe-2", "fe-3", "fe-4"]])
def test_etcd_even_or_tiny_groups_are_refused_with_the_group_named(hosts):
    with pytest.raises(AnsibleFilterError, match="inventory group 'etcd'"):
        controlplane.etcd_members(hosts, HOSTVARS)


def test_etcd_single_member_allowed_when_caller_allows_it():
    assert len(controlplane.etcd_members(["fe-1"], HOSTVARS, allowed_sizes=[1, 3, 5])) == 1


def test_etcd_duplicate_member_names_are_refused():
    hostvars = dict(HOSTVARS, **{"fe-4": {"etcd_member_name": "fe-1"}, "fe-5": {}})
    with pytest.raises(AnsibleFilterError, match="etcd_member_name"):
        controlplane.etcd_members(["fe-1", "fe-4", "fe-5"], hostvars)


def test_zookeeper_ensemble_ids_default_to_position_and_sort_by_id():
    hostvars = {"zk-a": {"zookeeper_id": 7}, "zk-b": {}, "zk-c": {"zookeeper_address": "10.1.0.3"}}
    servers = controlplane.zookeeper_ensemble(["zk-a", "zk-b", "zk-c"], hostvars)
    assert [(s["host"], s["id"]) for s in servers] == [("zk-b", 2), ("zk-c", 3), ("zk-a", 7)]
    assert servers[1]["server_line"] == "server.3=10.1.0.3:2888:3888;2181"
    assert servers[1]["connect"] == "10.1.0.3:2181"


@pytest.mark.parametrize("bad_id, message", [(0, "out of range"), (256, "out of range"), ("x", "not an integer")])
def test_zookeeper_bad_ids_are_refused(bad_id, message):
    with pytest.raises(AnsibleFilterError, match=message):
        controlplane.zookeeper_ensemble(["zk-a"], {"zk-a": {"zookeeper_id": bad_id}})


def test_zookeeper_duplicate_ids_are_refused():
    with pytest.raises(AnsibleFilterError, match="unique zookeeper_id"):
        controlplane.zookeeper_ensemble(["zk-a", "zk-b"], {"zk-a": {"zookeeper_id": 2}, "zk-b": {}})


def test_zookeeper_empty_group_is_refused():
    with pytest.raises(AnsibleFilterError, match="'zookeeper' is empty"):
        controlplane.zookeeper_ensemble([], {})


@pytest.mark.parametrize("value", ["172.26.0.1/16", "10.0.0.1/24", "fd00::1/64"])
def test_cidr_problem_accepts_bridge_addresses(value):
    assert controlplane.cidr_problem(value, require_host_address=True) == ""


@pytest.mark.parametrize("value, fragment", [
    ("172.26.0.1", "no prefix length"),
    ("172.26.0.300/16", "not a valid"),
    ("172.26.0.1/33", "not a valid"),
    ("172.26.0.0/16", "network or broadcast"),
])
def test_cidr_problem_explains_what_is_wrong(value, fragment):
    assert fragment in controlplane.cidr_problem(value, require_host_address=True)


def test_filters_are_registered_under_their_public_names():
    names = set(controlplane.FilterModule().filters())
    assert {"controlplane_etcd_members", "controlplane_etcd_initial_cluster",
            "controlplane_zookeeper_ensemble", "controlplane_cidr_problem"} <= names


# --- zk-4lw, the ZooKeeper health client the zookeeper role installs -------------------------

ZK_4LW = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "zookeeper", "files", "zk_4lw.py")
# Answers as ZooKeeper 3.8 gives them (srvr of a follower, of a server without quorum, and a word
# outside 4lw.commands.whitelist).
SRVR_FOLLOWER = ("Zookeeper version: 3.8.0-debian--1, built on 2023-03-08 10:57 UTC\nLatency min/avg/max: 0/0.0/0\n"
                 "Received: 3\nSent: 2\nConnections: 1\nOutstanding: 0\nZxid: 0x100000002\nMode: follower\n"
                 "Node count: 5\n")
NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"
NOT_WHITELISTED = "mntr is not executed because it is not in the whitelist.\n"


def load_zk_4lw():
    spec = importlib.util.spec_from_file_location("zk_4lw", ZK_4LW)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve_answers(answers):
    """A loopback TCP server that reads one word per connection and replies with the next answer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    received = []

    def loop():
        for answer in answers:
            conn, _ = listener.accept()
            received.append(conn.recv(16).decode())
            conn.sendall(answer.encode())
            conn.close()
        listener.close()

    threading.Thread(target=loop, daemon=True).start()
    return listener.getsockname()[1], received


def test_zk_4lw_waits_until_the_server_serves(capsys):
    port, received = serve_answers([NOT_SERVING, NOT_SERVING, SRVR_FOLLOWER])
    assert load_zk_4lw().main(["srvr", "--port", str(port), "--wait", "10"]) == 0
    assert received == ["srvr", "srvr", "srvr"]
    assert "Mode: follower" in capsys.readouterr().out


def test_zk_4lw_reports_a_server_that_never_serves(capsys):
    port, _ = serve_answers([NOT_SERVING])
    assert load_zk_4lw().main(["srvr", "--port", str(port)]) == 1
    assert "not serving" in capsys.readouterr().err


def test_zk_4lw_names_the_whitelist_variable(capsys):
    port, _ = serve_answers([NOT_WHITELISTED])
    assert load_zk_4lw().main(["mntr", "--port", str(port), "--wait", "5"]) == 2
    assert "zookeeper_4lw_whitelist" in capsys.readouterr().err


def test_zk_4lw_reports_a_closed_port():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    assert load_zk_4lw().main(["ruok", "--port", str(port)]) == 1
