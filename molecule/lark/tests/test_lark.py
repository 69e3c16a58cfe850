"""Lark converged in a container: a job gets its network through the installed pieces and leaves nothing."""
import json
import os

STARTER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "tests", "integration", "lark", "starter.py")


def test_firewall_base_and_reaper_are_in_place(host):
    table = json.loads(host.check_output("nft -j list table inet lark"))["nftables"]
    chains = {item["chain"]["name"] for item in table if "chain" in item}
    assert {"forward", "input", "output", "postrouting", "lk0_egress", "lk15_ingress"} <= chains
    assert host.service("lark-reap.timer").is_running
    assert host.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"


def test_sudo_rule_allows_exactly_setup_and_finish(host):
    rules = host.check_output("sudo -l -U slot1")
    assert "/usr/libexec/lark/lark-helper setup" in rules and "/usr/libexec/lark/lark-helper finish" in rules
    assert "reap" not in rules and "init" not in rules


def test_htcondor_fragment_uses_the_wrapper_and_the_hook(host):
    text = host.file("/etc/condor/config.d/60-lark.conf").content_string
    assert "USER_JOB_WRAPPER = /usr/libexec/lark/lark-job-wrapper" in text
    assert "LARK_HOOK_JOB_EXIT = /usr/libexec/lark/lark-hook-job-exit" in text
    assert "NO_JOB_NETWORKING = true" in text


def test_a_job_runs_in_its_own_network_and_leaves_nothing(host):
    host.check_output("install -d -m 0755 /root/lark-verify && chmod 0755 /root")
    with open(STARTER) as handle:
        source = handle.read()
    host.check_output(f"cat > /root/lark-verify/starter.py <<'PYEOF'\n{source}\nPYEOF")
    host.check_output("printf 'LarkPriority = \"interactive\"\\n' > /root/lark-verify/job.ad && chmod 0644 /root/lark-verify/job.ad")
    out = host.check_output(
        "python3 /root/lark-verify/starter.py lark-verify-st 1500 /usr/libexec/lark/lark-job-wrapper "
        "/usr/libexec/lark/lark-hook-job-exit /root/lark-verify/job.ad -- "
        "sh -c 'ip -4 -o addr show eth0 >&2; ip route show default >&2; tc -j qdisc show dev eth0 >&2' 2>&1")
    assert "10.213.0.2/30" in out, out
    assert "default via 10.213.0.1" in out, out
    assert '"kind":"htb"' in out, out
    final = json.loads([line for line in out.splitlines() if line.startswith('{"job_pid"') and "status" in line][-1])
    assert final["status"] == 0, out
    assert "LarkNetworkBytesOut = " in final["exit_hook"], out
    records = host.check_output("ls /var/lib/lark/records").split()
    assert records, "no accounting record"
    assert "lk0" not in host.check_output("ip -o link show")
    assert host.check_output("nft -j list set inet lark dscp_interactive").count('"elem"') == 0
    assert host.check_output("/usr/libexec/lark/lark-helper show").strip() == "[]"


def test_htcondor_reads_the_fragment_as_intended(host, tmp_path, monkeypatch):
    """HTCondor's own parser (the htcondor2 wheel on the controller) reads the fragment Lark wrote."""
    import pytest
    htcondor2 = pytest.importorskip("htcondor2")
    fragment = tmp_path / "60-lark.conf"
    fragment.write_text(host.file("/etc/condor/config.d/60-lark.conf").content_string)
    root = tmp_path / "condor_config"
    root.write_text(f"LOCAL_CONFIG_DIR = {tmp_path}/none\nSTARTD_ATTRS = SiteAttr\ninclude : {fragment}\n")
    monkeypatch.setenv("CONDOR_CONFIG", str(root))
    htcondor2.reload_config()
    param = htcondor2.param
    assert param["USER_JOB_WRAPPER"] == "/usr/libexec/lark/lark-job-wrapper"
    assert param["STARTER_DEFAULT_JOB_HOOK_KEYWORD"] == "LARK"
    assert param["LARK_HOOK_JOB_EXIT"] == "/usr/libexec/lark/lark-hook-job-exit"
    assert param["NO_JOB_NETWORKING"].lower() == "true"
    attrs = param["STARTD_ATTRS"].split()
    assert attrs[0] == "SiteAttr" and {"HasLark", "LarkNetworkType", "LarkAccounting", "LarkNetworks"} <= set(attrs)
    assert param["LarkNetworkType"] == '"nat"'
    assert param["LarkBandwidthLimit"] == '"100mbit"'
