"""The control plane works as clusters: etcd over TLS, a ZooKeeper ensemble and Docker, with failover.

Per-host tests take the `host` fixture (run once for each container). Cluster tests drive all three
containers through testinfra's docker backend and run once, in file order: health and replication
first, then failover (stop the etcd leader and the ZooKeeper leader, prove writes continue and a new
leader is elected), then rejoin (start them again, prove they catch up with what was written).
"""
import json
import re
import time
import uuid

import pytest
import testinfra

NODES = ["controlplane-1", "controlplane-2", "controlplane-3"]
PKI = "/etc/etcd/pki"
ETCDCTL = "ETCDCTL_API=3 etcdctl --cacert {0}/ca.crt --cert {0}/client.crt --key {0}/client.key".format(PKI)
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh -server 127.0.0.1:2181"
# Unique per run, so a value read back cannot be left over from an earlier run.
RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def nodes():
    return {name: testinfra.get_host("docker://" + name) for name in NODES}


def wait_for(what, probe, timeout=90, interval=2):
    """Poll probe() until it returns something truthy; fail naming what never happened."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail("%s did not happen within %ds (last answer: %r)" % (what, timeout, last))


def address(node):
    """The address the member advertises (hostname -I would also list docker0)."""
    return node.check_output("sed -n 's|^ETCD_ADVERTISE_CLIENT_URLS=https://\\(.*\\):2379$|\\1|p' /etc/etcd/etcd.env")


def etcd(node, args, endpoints=None):
    endpoints = endpoints or "https://%s:2379" % address(node)
    return node.run("%s --endpoints %s %s" % (ETCDCTL, endpoints, args))


def etcd_status(node):
    """(member_id, leader_id) as this member sees them, or None when it does not answer."""
    result = etcd(node, "endpoint status -w json")
    if result.rc != 0:
        return None
    header = json.loads(result.stdout)[0]["Status"]["header"]
    return header["member_id"], json.loads(result.stdout)[0]["Status"]["leader"]


def zk_mode(node):
    result = node.run("/usr/local/sbin/zk-4lw srvr")
    match = re.search(r"^Mode: (\w+)", result.stdout, re.M)
    return match.group(1) if (result.rc == 0 and match) else None


def zk_get(node, path):
    result = node.run("%s get %s" % (ZKCLI, path))
    # zkCli prints results on stderr as well as stdout depending on the version
    return result.stdout + result.stderr


# --- per host -------------------------------------------------------------------------------

def test_etcd_member_config_has_tls_and_v2(host):
    env = host.file("/etc/etcd/etcd.env")
    assert env.mode == 0o640
    settings = dict(line.split("=", 1) for line in env.content_string.splitlines() if "=" in line and not line.startswith("#"))
    assert settings["ETCD_CLIENT_CERT_AUTH"] == "true"
    assert settings["ETCD_PEER_CLIENT_CERT_AUTH"] == "true"
    assert settings["ETCD_LISTEN_CLIENT_URLS"].startswith("https://")
    assert settings["ETCD_ENABLE_V2"] == "true"
    # after bootstrap the member records 'existing', so a restart never re-bootstraps
    assert settings["ETCD_INITIAL_CLUSTER_STATE"] == "existing"
    assert settings["ETCD_INITIAL_CLUSTER"].count("=https://") == 3
    assert host.file(PKI + "/member.key").mode == 0o640


def test_etcd_refuses_clients_without_a_certificate(host):
    ip = address(host)
    plain = host.run("ETCDCTL_API=3 etcdctl --endpoints http://%s:2379 --dial-timeout 2s endpoint health" % ip)
    assert plain.rc != 0
    no_cert = host.run("ETCDCTL_API=3 etcdctl --cacert %s/ca.crt --endpoints https://%s:2379 --dial-timeout 2s "
                       "--command-timeout 3s endpoint health" % (PKI, ip))
    assert no_cert.rc != 0


def test_zookeeper_myid_matches_its_server_line(host):
    myid = host.file("/var/lib/zookeeper/myid").content_string.strip()
    expected = {"controlplane-1": "1", "controlplane-2": "2", "controlplane-3": "3"}[host.backend.get_hostname()]
    assert myid == expected
    cfg = host.file("/etc/zookeeper/conf/zoo.cfg").content_string
    assert len(re.findall(r"^server\.\d+=", cfg, re.M)) == 3
    assert "4lw.commands.whitelist=srvr,stat,ruok,mntr,conf" in cfg
    conf = host.check_output("/usr/local/sbin/zk-4lw conf")
    assert re.search(r"^serverId=%s$" % expected, conf, re.M), conf


def test_zookeeper_heap_is_the_configured_one(host):
    cmdline = host.check_output("ps -o args= -C java")
    assert "-Xmx192m" in cmdline


def test_docker_runs_with_the_configured_daemon_json(host):
    daemon_json = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon_json["storage-driver"] == "vfs"
    assert daemon_json["bip"] == "10.213.0.1/24"
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["Driver"] == "vfs"
    assert "https://registry-mirror.invalid/" in info["RegistryConfig"]["Mirrors"]
    assert info["LiveRestoreEnabled"] is True
    assert info["ClusterStore"] == "etcd://127.0.0.1:2379"
    assert info["LoggingDriver"] == "json-file"
    assert "inet 10.213.0.1/24" in host.check_output("ip -o -4 addr show docker0")
    bridge = json.loads(host.check_output("docker network inspect bridge"))[0]
    assert bridge["Options"]["com.docker.network.driver.mtu"] == "1450"


# --- cluster --------------------------------------------------------------------------------

def test_etcd_all_members_healthy_over_tls(nodes):
    endpoints = ",".join("https://%s:2379" % address(n) for n in nodes.values())
    for name, node in nodes.items():
        result = etcd(node, "endpoint health", endpoints=endpoints)
        assert result.rc == 0, (name, result.stderr)
        assert result.stderr.count("is healthy") + result.stdout.count("is healthy") == 3
    members = json.loads(etcd(nodes["controlplane-1"], "member list -w json").stdout)["members"]
    assert sorted(m["name"] for m in members) == NODES


def test_etcd_key_written_on_node1_is_read_on_2_and_3(nodes):
    key, value = "/bsaas/test/%s" % RUN_ID, "written-on-1"
    assert etcd(nodes["controlplane-1"], "put %s %s" % (key, value)).rc == 0
    for name in NODES[1:]:
        result = etcd(nodes[name], "get --print-value-only %s" % key)
        assert result.stdout.strip() == value, name


def test_etcd_v2_api_serves_calico(nodes):
    ip = address(nodes["controlplane-2"])
    v2 = ("ETCDCTL_API=2 etcdctl --ca-file {0}/ca.crt --cert-file {0}/client.crt --key-file {0}/client.key "
          "--endpoints https://%s:2379").format(PKI)
    assert nodes["controlplane-2"].run((v2 % ip) + " set /calico/v1/bsaas-%s ok" % RUN_ID).rc == 0
    ip3 = address(nodes["controlplane-3"])
    got = nodes["controlplane-3"].run((v2 % ip3) + " get /calico/v1/bsaas-%s" % RUN_ID)
    assert got.stdout.strip() == "ok", got.stderr


def test_zookeeper_one_leader_two_followers(nodes):
    modes = sorted(zk_mode(n) for n in nodes.values())
    assert modes == ["follower", "follower", "leader"]


def test_zookeeper_znode_written_on_one_node_is_read_on_the_others(nodes):
    path = "/bsaas-%s" % RUN_ID
    created = nodes["controlplane-2"].run("%s create %s written-on-2" % (ZKCLI, path))
    assert created.rc == 0 and "Created %s" % path in created.stdout + created.stderr, created.stdout + created.stderr
    for name in ("controlplane-1", "controlplane-3"):
        assert "written-on-2" in zk_get(nodes[name], path), name


def test_failover_stop_etcd_leader_and_zookeeper_leader_writes_continue(nodes):
    # etcd: stop whichever member leads, so a new election must happen.
    ids = {name: etcd_status(n) for name, n in nodes.items()}
    leader_id = ids["controlplane-1"][1]
    etcd_leader = [name for name, (member, _) in ids.items() if member == leader_id][0]
    zk_leader = [name for name, n in nodes.items() if zk_mode(n) == "leader"][0]
    nodes[etcd_leader].check_output("systemctl stop etcd")
    nodes[zk_leader].check_output("systemctl stop zookeeper")
    survivors = [name for name in NODES if name != etcd_leader]

    def elected():
        status = etcd_status(nodes[survivors[0]])
        return status and status[1] not in (0, leader_id) and status[1]

    new_leader = wait_for("a new etcd leader among %s" % survivors, elected)
    assert new_leader in [etcd_status(nodes[name])[0] for name in survivors]
    key = "/bsaas/failover/%s" % RUN_ID
    assert etcd(nodes[survivors[0]], "put %s during-failover" % key).rc == 0
    assert etcd(nodes[survivors[1]], "get --print-value-only %s" % key).stdout.strip() == "during-failover"

    zk_survivors = [name for name in NODES if name != zk_leader]
    wait_for("a new ZooKeeper leader among %s" % zk_survivors,
             lambda: sorted(zk_mode(nodes[n]) or "" for n in zk_survivors) == ["follower", "leader"])
    path = "/bsaas-failover-%s" % RUN_ID
    created = nodes[zk_survivors[0]].run("%s create %s during-failover" % (ZKCLI, path))
    assert "Created %s" % path in created.stdout + created.stderr, created.stdout + created.stderr
    assert "during-failover" in zk_get(nodes[zk_survivors[1]], path)


def test_stopped_members_rejoin_and_catch_up(nodes):
    for name in NODES:
        nodes[name].run("systemctl start etcd zookeeper")
    for name, node in nodes.items():
        wait_for("etcd on %s healthy again" % name, lambda: etcd(node, "endpoint health").rc == 0)
        value = etcd(node, "get --print-value-only /bsaas/failover/%s" % RUN_ID).stdout.strip()
        assert value == "during-failover", name
    wait_for("ZooKeeper back to one leader and two followers",
             lambda: sorted(zk_mode(n) or "" for n in nodes.values()) == ["follower", "follower", "leader"])
    for name, node in nodes.items():
        assert "during-failover" in zk_get(node, "/bsaas-failover-%s" % RUN_ID), name
    members = json.loads(etcd(nodes["controlplane-1"], "member list -w json").stdout)["members"]
    assert len(members) == 3 and all(m.get("name") for m in members)

