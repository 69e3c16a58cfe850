"""Wrong input fails in the role's first checks, naming the variable, before anything changes.

Each case applies one role to controlplane-1 in check mode with a small inventory of its own, so a
check that did not fire still could not change the running cluster. The failure must come from an
"ansible.builtin.assert" task and its message must name the variable to fix.
"""
import os
import subprocess
import textwrap

import pytest

CONNECTION = "ansible_connection: community.docker.docker"


def inventory(etcd_hosts, zookeeper_hosts, extra_hostvars=""):
    """A YAML inventory where only controlplane-1..3 are real containers; ghost-* are never contacted."""
    names = sorted(set(etcd_hosts) | set(zookeeper_hosts) | {"controlplane-1"})
    hosts = "\n".join("    %s: {%s%s}" % (name, CONNECTION if name.startswith("controlplane") else "",
                                          extra_hostvars if name == "controlplane-1" else "")
                      for name in names)
    return textwrap.dedent("""\
        all:
          hosts:
        {hosts}
          children:
            etcd:
              hosts: {{{etcd}}}
            zookeeper:
              hosts: {{{zookeeper}}}
        """).format(hosts=hosts, etcd=", ".join("%s: {}" % h for h in etcd_hosts),
                    zookeeper=", ".join("%s: {}" % h for h in zookeeper_hosts))


def run_role(tmp_path, role, role_vars, etcd_hosts=("controlplane-1", "controlplane-2", "controlplane-3"),
             zookeeper_hosts=("controlplane-1", "controlplane-2", "controlplane-3"), target="controlplane-1",
             extra_hostvars=""):
    (tmp_path / "hosts.yml").write_text(inventory(etcd_hosts, zookeeper_hosts, extra_hostvars))
    lines = "".join("        %s: %s\n" % (key, value) for key, value in role_vars.items())
    (tmp_path / "play.yml").write_text(textwrap.dedent("""\
        - name: Apply one role with wrong input
          hosts: {target}
          gather_facts: true
          roles:
            - role: htcfarm.bsaas.{role}
        """).format(target=target, role=role) + ("      vars:\n" + lines if lines else ""))
    env = dict(os.environ, ANSIBLE_PIPELINING="true", ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)  # molecule's config points at its own inventory
    proc = subprocess.run(["ansible-playbook", "--check", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env)
    return proc.returncode, proc.stdout


CASES = [
    ("etcd even member count", "etcd", {}, dict(etcd_hosts=("controlplane-1", "controlplane-2")), "etcd_group"),
    ("etcd four members", "etcd", {},
     dict(etcd_hosts=("controlplane-1", "controlplane-2", "controlplane-3", "ghost-4")), "etcd_group"),
    ("host missing from the etcd group", "etcd", {},
     dict(etcd_hosts=("controlplane-2", "controlplane-3", "ghost-4")), "including controlplane-1"),
    ("etcd tarball without checksum", "etcd", {"etcd_install_method": "tarball"}, {}, "etcd_tarball_sha256"),
    ("etcd v2 API on 3.6", "etcd",
     {"etcd_install_method": "tarball", "etcd_version": "'3.6.0'", "etcd_enable_v2": "true",
      "etcd_tarball_sha256": "'%s'" % ("a" * 64)}, {}, "etcd_enable_v2"),
    ("docker bip without prefix", "docker", {"docker_bip": "10.213.0.1"}, {}, "docker_bip"),
    ("docker bip is a network address", "docker", {"docker_bip": "10.213.0.0/24"}, {}, "docker_bip"),
    ("docker mirror that is not a URL", "docker", {"docker_registry_mirrors": "['mirror.example.org']"}, {},
     "docker_registry_mirrors"),
    ("zookeeper tarball without checksum", "zookeeper", {"zookeeper_install_method": "tarball"}, {},
     "zookeeper_tarball_sha256"),
    ("zookeeper even ensemble", "zookeeper", {}, dict(zookeeper_hosts=("controlplane-1", "controlplane-2")),
     "zookeeper_group"),
    ("zookeeper whitelist without srvr", "zookeeper", {"zookeeper_4lw_whitelist": "[ruok]"}, {},
     "zookeeper_4lw_whitelist"),
]


@pytest.mark.parametrize("role, role_vars, layout, names", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_wrong_input_fails_in_the_first_checks(tmp_path, role, role_vars, layout, names):
    rc, output = run_role(tmp_path, role, role_vars, **layout)
    assert rc != 0, output
    failed = [line for line in output.splitlines() if line.startswith("fatal:")]
    assert failed, output
    assert "Check " in output.split(failed[0])[0].rsplit("TASK [", 1)[1], output  # an assert task failed
    assert names in output, output
    assert "changed=0" in output.split("PLAY RECAP")[1], output
