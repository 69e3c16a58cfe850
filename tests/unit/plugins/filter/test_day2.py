# -*- coding: utf-8 -*-
"""Unit tests for the rolling-upgrade order: followers first, the leader last, decided from status output.

The outputs below follow the formats of the tools the roles run: etcdctl 3.5 ``endpoint status -w json``
(etcdctl's JSON printer of etcdserverpb.StatusResponse: member and leader ids are uint64, larger than 2**63)
and ZooKeeper 3.8's answer to ``srvr``. They are written out by hand in those formats, not captured.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.htcfarm.bsaas.plugins.filter import day2

LEADER_ID = 17237436991929493444
IDS = {"fe-1": 9372538179322589801, "fe-2": LEADER_ID, "fe-3": 10501334649042878790}


def etcd_status(host, leader=LEADER_ID):
    return json.dumps([{
        "Endpoint": "https://%s:2379" % host,
        "Status": {
            "header": {"cluster_id": 14841639068965178418, "member_id": IDS[host], "revision": 42, "raft_term": 3},
            "version": "3.5.16", "dbSize": 20480, "leader": leader, "raftIndex": 118, "raftTerm": 3,
            "raftAppliedIndex": 118, "dbSizeInUse": 16384}}])


def srvr(mode):
    return ("Zookeeper version: 3.8.4-9316c2a7a97e1666d8f4593f34dd6fc36ecc436c, built on 2024-02-12 22:16 UTC\n"
            "Latency min/avg/max: 0/0.4/3\nReceived: 17\nSent: 16\nConnections: 1\nOutstanding: 0\n"
            "Zxid: 0x100000004\nMode: %s\nNode count: 5\n" % mode)


def test_etcd_leader_goes_last_and_followers_keep_their_order():
    outputs = {host: etcd_status(host) for host in ("fe-1", "fe-2", "fe-3")}
    assert day2.bsaas_leader_last(outputs, "etcd") == ["fe-1", "fe-3", "fe-2"]
    assert day2.bsaas_member_role(outputs["fe-2"], "etcd") == "leader"
    assert day2.bsaas_member_role(outputs["fe-3"], "etcd") == "follower"


def test_etcd_first_host_leading_is_moved():
    outputs = {host: etcd_status(host, leader=IDS["fe-1"]) for host in ("fe-1", "fe-2", "fe-3")}
    assert day2.bsaas_leader_last(outputs, "etcd") == ["fe-2", "fe-3", "fe-1"]


def test_zookeeper_leader_goes_last():
    outputs = {"zk-1": srvr("leader"), "zk-2": srvr("follower"), "zk-3": srvr("follower")}
    assert day2.bsaas_leader_last(outputs, "zookeeper") == ["zk-2", "zk-3", "zk-1"]


def test_zookeeper_standalone_counts_as_the_leader():
    assert day2.bsaas_leader_last({"zk-1": srvr("standalone")}, "zookeeper") == ["zk-1"]


def test_a_member_that_does_not_answer_stops_the_upgrade_naming_it():
    outputs = {"zk-1": srvr("leader"), "zk-2": "", "zk-3": "This ZooKeeper instance is not currently serving requests\n"}
    with pytest.raises(AnsibleFilterError, match="zk-2, zk-3"):
        day2.bsaas_leader_last(outputs, "zookeeper")


def test_no_leader_or_two_leaders_stop_the_upgrade():
    with pytest.raises(AnsibleFilterError, match="0 say they lead"):
        day2.bsaas_leader_last({"zk-1": srvr("follower"), "zk-2": srvr("follower")}, "zookeeper")
    outputs = {"fe-1": etcd_status("fe-1", leader=IDS["fe-1"]), "fe-2": etcd_status("fe-2")}
    with pytest.raises(AnsibleFilterError, match="2 say they lead"):
        day2.bsaas_leader_last(outputs, "etcd")


def test_etcd_error_output_is_not_a_status():
    error = ('{"level":"warn","msg":"retrying of unary invoker failed","error":"context deadline exceeded"}\n'
             "Failed to get the status of endpoint https://fe-3:2379 (context deadline exceeded)")
    assert day2.bsaas_member_role(error, "etcd") is None
    with pytest.raises(AnsibleFilterError, match="fe-3"):
        day2.bsaas_leader_last({"fe-2": etcd_status("fe-2"), "fe-3": error}, "etcd")


def test_unknown_kind_is_refused():
    with pytest.raises(AnsibleFilterError, match="etcd or zookeeper"):
        day2.bsaas_leader_last({"x": ""}, "consul")
