"""Lark policy, job planning and kernel-command generation (runs on Python 3.6 and 3.11)."""
import io
import json

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import lark

# `ip -j -4 addr show` / `ip -j -4 route show table all` as iproute2 6.1 prints them (trimmed).
IP_ADDR = json.loads(
    '[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},'
    '{"ifindex":2,"ifname":"eth0","addr_info":[{"family":"inet","local":"192.0.2.2","prefixlen":24}]},'
    '{"ifindex":9,"ifname":"lk0","addr_info":[{"family":"inet","local":"10.213.0.1","prefixlen":30}]}]')
IP_ROUTE = json.loads(
    '[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},'
    '{"dst":"172.17.0.0/16","dev":"docker0","protocol":"kernel","scope":"link","prefsrc":"172.17.0.1"},'
    '{"dst":"10.213.0.0/30","dev":"lk0","protocol":"kernel","scope":"link","prefsrc":"10.213.0.1"},'
    '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host"}]')


def fake_ip(argv):
    return IP_ADDR if "addr" in argv else IP_ROUTE


def policy(**overrides):
    base = {"networks": {"nat": {"type": "nat", "subnet": "10.213.0.0/16"},
                         "split": {"type": "bridge", "bridge": "br-lark77", "subnet": "192.168.77.0/24",
                                   "gateway": "192.168.77.1", "vlan": 77, "parent": "eth1"}},
            "job_selectable_networks": ["split"],
            "accounting": {"enabled": True, "campus_networks": ["131.154.0.0/16"]}}
    base.update(overrides)
    return lark.validate_policy(base)


@pytest.mark.parametrize("text,bits", [
    ("20mbit", 20000000), ("1gbit", 10 ** 9), ("2.5mbit", 2500000), ("1mbps", 8000000),
    ("10kibit", 10240), ("8000", 8000), (64000, 64000), ("20Mbit", 20000000)])
def test_rates_are_read_as_tc_reads_them(text, bits):
    assert lark.parse_rate(text) == bits


@pytest.mark.parametrize("text", ["fast", "20 megabits", "", "-5mbit", "1e3mbit", True, "10", "mbit"])
def test_a_rate_that_is_not_a_rate_is_refused_with_an_example(text):
    with pytest.raises(lark.LarkPolicyError) as err:
        lark.parse_rate(text, "bandwidth.job_rate")
    assert "bandwidth.job_rate" in str(err.value) or "8kbit" in str(err.value)


def test_policy_defaults_are_filled_in_and_revalidate_unchanged():
    pol = policy()
    assert pol["default_network"] == "nat"
    assert pol["networks"]["nat"]["block_host"] is True
    assert pol["networks"]["split"]["first_address"] == "192.168.77.2"
    assert lark.validate_policy(json.loads(lark.policy_json(pol))) == pol


@pytest.mark.parametrize("overrides,message", [
    ({"shaping": True}, "unknown policy shaping"),
    ({"bandwidth": {"enabled": True, "job_rate": "lots"}}, "bandwidth.job_rate: 'lots' is not a rate"),
    ({"bandwidth": {"enabled": True}}, "neither bandwidth.job_rate nor bandwidth.rate_per_cpu"),
    ({"bandwidth": {"burst": 3}}, "unknown policy bandwidth.burst"),
    ({"priority": {"default": "urgent"}}, "priority.default 'urgent' is unknown"),
    ({"networks": {"nat": {"type": "nat", "subnet": "10.0.0.0/8"}, "b": {"type": "nat", "subnet": "10.5.0.0/16"}},
      "job_selectable_networks": ["b"]}, "overlaps networks.nat.subnet"),
    ({"networks": {"nat": {"type": "vxlan", "subnet": "10.0.0.0/8"}}}, "type 'vxlan' is unknown"),
    ({"networks": {"nat": {"type": "nat", "subnet": "10.0.0.1/8"}}}, "is not a network in CIDR form"),
    ({"networks": {"nat": {"type": "nat", "subnet": "10.0.0.0/30"}}}, "too small"),
    ({"default_network": "other"}, "default_network 'other' is not one of the defined networks"),
    ({"job_selectable_networks": ["ghost"]}, "names 'ghost'"),
    ({"interface_prefix": "toolongprefix"}, "interface_prefix"),
    ({"min_job_uid": 0}, "min_job_uid must be a positive integer"),
    ({"accounting": {"campus_networks": ["campus"]}}, "accounting.campus_networks"),
])
def test_bad_policies_name_the_field_and_the_fix(overrides, message):
    with pytest.raises(lark.LarkPolicyError) as err:
        policy(**overrides)
    assert message in str(err.value)


def test_split_network_gateway_and_vlan_are_checked():
    nets = {"nat": {"type": "nat", "subnet": "10.213.0.0/16"},
            "split": {"type": "bridge", "bridge": "br0", "subnet": "192.168.77.0/24", "gateway": "192.168.78.1"}}
    with pytest.raises(lark.LarkPolicyError, match="not inside networks.split.subnet"):
        policy(networks=nets)
    nets["split"].update(gateway="192.168.77.1", vlan=4095, parent="eth1")
    with pytest.raises(lark.LarkPolicyError, match="between 1 and 4094"):
        policy(networks=nets)
    nets["split"].update(vlan=77, parent=None)
    with pytest.raises(lark.LarkPolicyError, match="needs networks.split.parent"):
        policy(networks=nets)


def test_job_subnet_overlapping_the_host_is_refused_but_larks_own_links_are_not():
    existing = lark.host_networks(fake_ip)
    lark.check_host_overlaps(policy(), existing)  # lk0's 10.213.0.0/30 is Lark's own
    bad = policy(networks={"nat": {"type": "nat", "subnet": "172.16.0.0/12"}}, job_selectable_networks=[])
    with pytest.raises(lark.LarkPolicyError) as err:
        lark.check_host_overlaps(bad, existing)
    assert "overlaps the host's route 172.17.0.0/16 dev docker0" in str(err.value)
    bad = policy(networks={"nat": {"type": "nat", "subnet": "192.0.2.0/25"}}, job_selectable_networks=[])
    with pytest.raises(lark.LarkPolicyError, match="address 192.0.2.2/24 on eth0"):
        lark.check_host_overlaps(bad, existing)


def test_plan_follows_pool_policy_and_job_may_only_ask_for_less():
    pol = policy(bandwidth={"enabled": True, "job_rate": "200mbit", "rate_per_cpu": "50mbit"},
                 priority={"enabled": True})
    plan = lark.plan_job(pol, {})
    assert plan == {"network": "nat", "rate_bits": 50000000, "priority": "normal", "accounting": True}
    assert lark.plan_job(pol, {"RequestCpus": 8})["rate_bits"] == 200000000  # pool cap wins
    assert lark.plan_job(pol, {"RequestCpus": 2})["rate_bits"] == 100000000  # per-slot share
    with pytest.raises(lark.LarkPolicyError, match=r"more than this node allows a job \(200mbit\)"):
        lark.plan_job(pol, {"RequestCpus": 8, "LarkBandwidth": "1gbit"})
    assert lark.plan_job(pol, {"RequestCpus": 8, "LarkBandwidth": "200mbit"})["rate_bits"] == 200000000
    assert lark.plan_job(pol, {"LarkBandwidth": "5mbit"})["rate_bits"] == 5000000
    assert lark.plan_job(pol, {"LarkNetwork": "split", "LarkPriority": "bulk"})["network"] == "split"
    with pytest.raises(lark.LarkPolicyError, match="does not define"):
        lark.plan_job(pol, {"LarkNetwork": "ghost"})
    with pytest.raises(lark.LarkPolicyError, match="is not a rate"):
        lark.plan_job(pol, {"LarkBandwidth": "fast"})
    with pytest.raises(lark.LarkPolicyError, match="LarkPriority"):
        lark.plan_job(pol, {"LarkPriority": "urgent"})
    locked = policy(job_selectable_networks=[])
    with pytest.raises(lark.LarkPolicyError, match="may not select"):
        lark.plan_job(locked, {"LarkNetwork": "split"})


def test_job_ad_attributes_are_read_from_the_job_ad_text():
    text = ('MyType = "Job"\nLarkNetwork = "split"\nLarkBandwidth = "10mbit"\nRequestCpus = 4\n'
            'Requirements = (TARGET.Arch == "X86_64")\nLarkPriority = strcat("bu", "lk")\n')
    attrs = lark.parse_job_ad(text)
    assert attrs["LarkNetwork"] == "split"
    assert attrs["LarkBandwidth"] == "10mbit"
    assert attrs["RequestCpus"] == 4
    assert lark.parse_job_ad("") == {}


def test_nat_leases_get_disjoint_slash30s_and_bridge_leases_skip_the_gateway():
    pol = policy()
    assert lark.addresses_for(pol["networks"]["nat"], 0) == ("10.213.0.1/30", "10.213.0.2/30", "10.213.0.1")
    assert lark.addresses_for(pol["networks"]["nat"], 3) == ("10.213.0.13/30", "10.213.0.14/30", "10.213.0.13")
    assert lark.addresses_for(pol["networks"]["split"], 0) == (None, "192.168.77.2/24", "192.168.77.1")
    assert lark.network_capacity(pol, pol["networks"]["nat"]) == 256  # max_jobs caps 16384 /30s
    with pytest.raises(lark.LarkError):
        lark.addresses_for(pol["networks"]["split"], 253)


def test_a_job_end_reads_and_zeroes_its_slot_in_one_transaction():
    pol = policy(priority={"enabled": True})
    lease = {"host_ifname": "lk7", "type": "nat", "priority": "bulk", "accounting": True}
    script = lark.nft_job_script(pol, lease)
    assert 'add element inet lark job_egress { "lk7" : jump lk7_egress }' in script
    assert 'add element inet lark dscp_bulk { "lk7" }' in script
    commands = lark.nft_job_end_commands(pol, lease)
    assert [c["reset"]["counter"]["name"] for c in commands[:4]] == lark._counter_names("lk7")
    assert [c["delete"]["element"]["name"] for c in commands[4:]] == ["job_egress", "job_ingress", "dscp_bulk"]
    split = dict(lease, type="bridge", priority="normal", accounting=False)
    assert "dscp" not in lark.nft_job_script(pol, split)
    assert [c["delete"]["element"]["family"] for c in lark.nft_job_end_commands(pol, split)] == ["bridge", "bridge"]


def test_base_table_prepares_every_slot_masquerades_nat_jobs_and_isolates_split_jobs():
    script = lark.nft_base_script(policy(max_jobs=4))
    assert 'ip saddr 10.213.0.0/16 oifname != "lk*" masquerade' in script
    assert 'add rule bridge lark input iifname "lk*" drop' in script
    assert "add element inet lark campus4 { 131.154.0.0/16 }" in script
    assert "add chain bridge lark lk3_egress" in script
    assert "add element bridge lark job_egress" not in script  # a slot joins the maps with its job
    assert "add counter inet lark lk3_in_offcampus" in script and "lk4_" not in script
    assert "add rule inet lark forward iifname @dscp_bulk ip dscp set cs1" in script


def test_tc_quantum_stays_in_htbs_range():
    assert "quantum 200000" in lark.tc_script("lk0", 10 ** 10)
    assert "quantum 1600" in lark.tc_script("lk0", 64000)
    assert "rate 20000000bit ceil 20000000bit" in lark.tc_script("lk0", 20000000)


def test_record_becomes_classad_lines_the_bindings_accept():
    lease = {"host_ifname": "lk1", "network": "nat", "type": "nat", "job_address": "10.213.0.6",
             "started": 1.0, "accounting": True}
    counters = {"lk1_out_campus": (10, 1280), "lk1_out_offcampus": (1, 100), "lk1_in_campus": (5, 500)}
    record = lark.accounting_record(lease, counters, "job-exit")
    assert record["BytesOut"] == 1380 and record["PacketsOut"] == 11 and record["BytesIn"] == 500
    classad2 = pytest.importorskip("classad2")
    ad = classad2.parseOne(lark.record_classad(record))
    assert ad["LarkNetworkBytesOutOnCampus"] == 1280
    assert ad["LarkJobNetworkType"] == "nat" and ad["LarkJobNetwork"] == "nat"


def test_prepare_hook_holds_a_refused_request_and_passes_the_others(tmp_path):
    pol = policy(bandwidth={"enabled": True, "job_rate": "40mbit"})
    path = tmp_path / "policy.json"
    path.write_text(lark.policy_json(lark.validate_policy(pol)))
    out = io.StringIO()
    assert lark.helper_main(str(path), ["prepare"], io.StringIO('LarkBandwidth = "1gbit"\n'), out) == 0
    assert out.getvalue().startswith("HookStatusCode = 190\nHookStatusMessage = \"Lark: the job asks for")
    classad2 = pytest.importorskip("classad2")
    assert "40mbit" in classad2.parseOne(out.getvalue())["HookStatusMessage"]
    out = io.StringIO()
    assert lark.helper_main(str(path), ["prepare"], io.StringIO('LarkBandwidth = "10mbit"\n'), out) == 0
    assert out.getvalue() == ""


def test_readiness_marker_takes_the_node_out_and_back(tmp_path):
    pol = lark.validate_policy(policy(state_dir=str(tmp_path / "state")))
    assert lark.readiness_classad(pol) == 'LarkReady = true\nLarkNotReadyReason = ""\n'
    lark.mark_not_ready(pol, 'could not set up the job network: "nft" failed')
    ready, reason = lark.readiness(pol)
    assert not ready and reason.startswith("could not set up")
    classad2 = pytest.importorskip("classad2")
    ad = classad2.parseOne(lark.readiness_classad(pol))
    assert ad["LarkReady"] is False and '"nft" failed' in ad["LarkNotReadyReason"]
    lark.clear_not_ready(pol)
    assert lark.readiness(pol) == (True, "")


def test_job_uids_admit_named_system_accounts_and_nothing_else():
    assert lark.validate_policy(policy(job_uids=[996, 995]))["job_uids"] == [996, 995]
    for bad in ([0], ["996"], 996, [True]):
        with pytest.raises(lark.LarkPolicyError, match="job_uids"):
            lark.validate_policy(policy(job_uids=bad))
