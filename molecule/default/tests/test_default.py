"""The harness works end to end: systemd is PID 1, Ansible converged, the fact reads back."""
import json


def test_systemd_is_init_and_healthy(host):
    assert host.process.get(pid=1).comm == "systemd"
    state = host.run("systemctl is-system-running --wait").stdout.strip()
    assert state in ("running", "degraded"), state
    failed = host.run("systemctl --failed --no-legend --plain").stdout.strip()
    assert failed == "", failed


def test_base_packages_installed(host):
    for name in ("ca-certificates", "curl", "iproute2", "python3"):
        assert host.package(name).is_installed, name


def test_local_fact_is_what_ansible_reads_back(host):
    fact = host.file("/etc/ansible/facts.d/bsaas.fact")
    assert fact.user == "root" and fact.mode == 0o644
    record = json.loads(fact.content_string)
    assert record == {"deployment": "harness", "site": "sandbox", "groups": ["htcondor_executors"]}
    local = host.ansible("setup", "filter=ansible_local", check=False)["ansible_facts"]["ansible_local"]
    assert local["bsaas"]["site"] == "sandbox"
