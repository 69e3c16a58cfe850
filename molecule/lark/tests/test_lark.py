"""Lark under HTCondor's real startd and starter: real jobs, submitted by alice on the central manager.

lark-exec runs HTCondor 25.14.1, lark-exec23 Debian 13's 23.9.6 (no NO_JOB_NETWORKING: the helper makes
the namespace). Every job's figures are read back from the schedd (condor_history), not from the node.
"""
import json
import re
import time

import pytest
import testinfra

testinfra_hosts = ["docker://lark-cm"]

EXEC = {"25": "lark-exec", "23": "lark-exec23"}
PAYLOAD_BYTES = 4 * 1024 * 1024


def node(name):
    return testinfra.get_host(f"docker://{name}")


def submit(host, name, body, timeout=240):
    """Submit one job as alice, wait for it to end or be held; return its final ad."""
    desc = (f"universe = vanilla\nlog = /home/alice/{name}.log\noutput = /home/alice/{name}.out\n"
            f"error = /home/alice/{name}.err\nshould_transfer_files = YES\nwhen_to_transfer_output = ON_EXIT\n"
            f"want_io_proxy = true\n{body}\nqueue\n")
    host.check_output(f"cat > /home/alice/{name}.sub <<'EOF'\n{desc}EOF\nchown alice: /home/alice/{name}.sub")
    out = host.check_output(f"cd /home/alice && runuser -u alice -- condor_submit -terse {name}.sub")
    job = out.split()[0].split(".")[0] + ".0"
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = host.run(f"condor_q {job} -af JobStatus").stdout.strip()
        if status in ("", "4"):
            break
        if status == "5":
            ad = json.loads(host.check_output(f"condor_q {job} -json"))[0]
            host.run(f"condor_rm {job}")
            return ad
        time.sleep(2)
    else:
        diag = host.run(f"condor_q {job} -better-analyze").stdout
        host.run(f"condor_rm {job}")
        pytest.fail(f"job {job} ({name}) did not finish in {timeout}s:\n{diag}")
    for _ in range(30):
        text = host.run(f"condor_history {job} -json -limit 1").stdout.strip()
        if text:
            return json.loads(text)[0]
        time.sleep(1)
    pytest.fail(f"job {job} is not in the history")


def output(host, name):
    return host.file(f"/home/alice/{name}.out").content_string


@pytest.fixture(scope="module")
def payload(host):
    """A known transfer: a file of PAYLOAD_BYTES served over HTTP from the central manager."""
    host.check_output(f"install -d /srv/lark-verify && head -c {PAYLOAD_BYTES} /dev/urandom > /srv/lark-verify/blob")
    host.check_output("systemd-run --unit lark-verify-http --property=WorkingDirectory=/srv/lark-verify "
                      "python3 -m http.server 8081 || systemctl restart lark-verify-http")
    address = host.check_output("hostname -I").split()[0]
    for _ in range(20):
        if host.run(f"python3 -c 'import urllib.request; urllib.request.urlopen(\"http://{address}:8081/blob\")'").rc == 0:
            break
        time.sleep(0.5)
    yield address
    host.run("systemctl stop lark-verify-http")


FETCH = """#!/bin/sh
ip -4 -o addr show eth0
id -u
exec python3 -c "import urllib.request; print(len(urllib.request.urlopen('http://$1:8081/blob').read()))"
"""


@pytest.mark.parametrize("release", ["25", "23"])
def test_a_nat_job_completes_with_its_accounting_in_the_job_ad(host, payload, release):
    name = f"nat{release}"
    host.check_output(f"cat > /home/alice/fetch.sh <<'EOF'\n{FETCH}EOF\nchmod 0755 /home/alice/fetch.sh")
    ad = submit(host, name, f'executable = /home/alice/fetch.sh\narguments = {payload}\n'
                f'requirements = Machine == "{EXEC[release]}"')
    assert ad["JobStatus"] == 4 and ad.get("ExitCode") == 0, ad.get("HoldReason", ad)
    text = output(host, name)
    assert re.search(r"eth0\s+inet 10\.213\.\d+\.\d+/30", text), text
    assert f"{PAYLOAD_BYTES}\n" in text, text
    # The figures reached the schedd: the download is on campus (the pool's own network) and within
    # 10% of the payload (TCP/IP headers, HTTP); the way out is the requests and ACKs.
    inbound = ad["LarkNetworkBytesInOnCampus"]
    assert PAYLOAD_BYTES <= inbound <= PAYLOAD_BYTES * 1.10, ad
    assert ad["LarkNetworkBytesInOffCampus"] == 0 and ad["LarkNetworkBytesIn"] == inbound
    assert 0 < ad["LarkNetworkBytesOut"] < PAYLOAD_BYTES * 0.2
    assert ad["LarkJobNetworkType"] == "nat" and ad["LarkJobAddress"].startswith("10.213.")
    shown = host.check_output(f"condor_history {ad['ClusterId']}.0 -limit 1 -af LarkNetworkBytesIn LarkNetworkPacketsOut")
    assert shown.split()[0] == str(inbound)
    exec_node = node(EXEC[release])
    assert exec_node.check_output("/usr/libexec/lark/lark-helper show").strip() == "[]"
    assert "lark-" not in exec_node.run("ip netns list").stdout
    assert not re.search(r"\blk\d+", exec_node.check_output("ip -o link show"))


def test_the_job_runs_as_its_slot_account_with_its_environment(host):
    ad = submit(host, "ident", 'executable = /bin/sh\narguments = "-c \'id -un; echo $MYVAR; pwd\'"\n'
                'environment = "MYVAR=from-submit"\nrequirements = Machine == "lark-exec23"')
    assert ad["JobStatus"] == 4 and ad.get("ExitCode") == 0, ad
    name, var, cwd = output(host, "ident").split()[:3]
    assert name.startswith("bsaas-slot") and var == "from-submit" and "/execute/dir_" in cwd, (name, var, cwd)


def test_the_rate_limit_is_what_iperf3_measures_inside_the_job(host):
    host.check_output("systemd-run --unit lark-verify-iperf iperf3 -s -p 5202 || systemctl restart lark-verify-iperf")
    address = host.check_output("hostname -I").split()[0]
    time.sleep(1)
    try:
        ad = submit(host, "rate", f'executable = /usr/bin/iperf3\narguments = "-c {address} -p 5202 -t 4 -J"\n'
                    'requirements = Machine == "lark-exec"')
    finally:
        host.run("systemctl stop lark-verify-iperf")
    assert ad["JobStatus"] == 4 and ad.get("ExitCode") == 0, ad
    result = json.loads(output(host, "rate"))
    mbit = result["end"]["sum_received"]["bits_per_second"] / 1e6
    print(f"lark_job_rate 40mbit: iperf3 inside the job measured {mbit:.2f} Mbit/s")
    assert 36.0 <= mbit <= 44.0


def test_a_job_asking_more_than_the_node_allows_is_held_with_the_reason(host):
    ad = submit(host, "greedy", 'executable = /bin/true\n+LarkBandwidth = "1gbit"\nrequirements = Machine == "lark-exec"')
    assert ad["JobStatus"] == 5, ad
    assert "more than this node allows a job (40mbit)" in ad["HoldReason"], ad["HoldReason"]


def _lark_ready(host):
    return host.run("""condor_status -constraint 'Machine == "lark-exec"' -af LarkReady LarkNotReadyReason""").stdout


def test_a_failed_setup_takes_the_node_out_until_lark_is_whole(host):
    """The firewall base disappears under a running node: the job that meets it does not run there,
    the node says it is not ready (and why) so nothing matches it, a job that still reaches it is held
    with the reason, and once the reaper has rebuilt the base the node matches again."""
    exec_node = node("lark-exec")
    # The reaper timer would repair the base within a minute, possibly before the startd's cron has
    # published the mark; this test plays the timer itself.
    exec_node.check_output("systemctl stop lark-reap.timer")
    exec_node.check_output("nft delete table inet lark")
    try:
        ad = submit(host, "broken", 'executable = /bin/true\nrequirements = Machine == "lark-exec"')
        if ad["JobStatus"] == 5:  # the node's readiness mark was already there: the prepare hook held it
            assert "Lark" in ad["HoldReason"], ad["HoldReason"]
        else:
            assert ad["JobStatus"] == 4 and ad.get("ExitCode") != 0, ad
            assert "could not set up the job network" in host.file("/home/alice/broken.err").content_string
        deadline = time.time() + 90
        while time.time() < deadline and not _lark_ready(host).startswith("false"):
            time.sleep(3)
        ready = _lark_ready(host)
        assert ready.startswith("false") and "could not set up" in ready, ready
        # A job that reaches the node anyway (the prepare hook reads the same mark) is held with the reason.
        hook = exec_node.run("printf 'MyType = \"Job\"\\n' | runuser -u bsaas-slot1 -- /usr/libexec/lark/lark-hook-prepare")
        assert "HookStatusCode = 190" in hook.stdout and "not ready on this node" in hook.stdout, hook.stdout
    finally:
        reaped = exec_node.run("/usr/libexec/lark/lark-helper reap")
        exec_node.run("systemctl start lark-reap.timer")
    assert reaped.rc == 0, reaped.stderr
    assert exec_node.run("nft list table inet lark").rc == 0
    deadline = time.time() + 90
    while time.time() < deadline and not _lark_ready(host).startswith("true"):
        time.sleep(3)
    assert _lark_ready(host).startswith("true")
    ad = submit(host, "repaired", 'executable = /bin/true\nrequirements = Machine == "lark-exec"')
    assert ad["JobStatus"] == 4 and ad.get("ExitCode") == 0, ad
