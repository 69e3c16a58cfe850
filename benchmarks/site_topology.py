#!/usr/bin/env python3
"""Preflight and configuration generation for a generated 1,000-executor, three-site pool.

Prints, for an inventory of --executors executors spread over Torino (routed), Bologna (routed) and
Bari (behind NAT), how long it takes to:
  1. compute the topology (CCB placement, BGP peerings, checks) in Python;
  2. generate every host's HTCondor config.d as the htcondor role does: the settings the role builds from
     the host's topology inputs, condor.host_fragments, each fragment rendered to config text;
  3. parse a sample of those config.d directories with HTCondor's own parser (htcondor2), to show they are
     valid and carry the topology's placement;
  4. run playbooks/preflight.yml with ansible-playbook on that inventory (controller only, no hosts touched):
     it computes every host's role inputs in one pass; the layer plays hand them to each host.
Figures are totals and per-host costs; nothing is asserted about speed.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))

from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor  # noqa: E402
from ansible_collections.htcfarm.bsaas.plugins.module_utils import topology as topo  # noqa: E402

SITES = (
    # name, AS, NAT, private /16, calico pool, share of executors
    ("torino", 65101, "none", "10.10", "172.16.0.0/16", 0.4),
    ("bologna", 65102, "none", "10.20", "172.17.0.0/16", 0.3),
    ("bari", 65103, "masquerade", "10.30", "172.18.0.0/16", 0.3),
)


def generate(executors):
    """(hostvars, groups, inventory YAML text) for a pool with front-ends in Torino and a submitter in Bologna."""
    hostvars, groups = {}, {"all": [], "htcondor_central_managers": ["to-fe1"], "htcondor_submitters": ["bo-ui1"],
                            "htcondor_executors": [], "etcd": ["to-fe1", "to-fe2", "to-fe3"]}
    # The htcondor role needs a pool domain; preflight refuses a pool without one.
    lines = ["all:", "  vars: {htcondor_pool_domain: %s}" % POOL_DOMAIN, "  children:"]
    left = executors
    for index, (name, asn, nat, prefix, pool, share) in enumerate(SITES):
        count = left if index == len(SITES) - 1 else int(executors * share)
        left -= count
        site_vars = {"bsaas_site_name": name, "bsaas_site_as_number": asn, "bsaas_site_nat": nat,
                     "bsaas_site_private_networks": [prefix + ".0.0/16"], "bsaas_site_calico_pool": pool}
        if nat != "none":
            site_vars["bsaas_site_public_address"] = "203.0.113.%d" % (10 + index)
        members = {}
        if name == "torino":
            for n in (1, 2, 3):
                members["to-fe%d" % n] = {"ansible_host": "%s.0.%d" % (prefix, 10 + n),
                                          "bsaas_public_address": "192.0.2.%d" % (10 + n)}
        if name == "bologna":
            members["bo-ui1"] = {"ansible_host": prefix + ".0.11", "bsaas_public_address": "198.51.100.11"}
        for n in range(count):
            host = "%s-wn%04d" % (name[:2], n)
            members[host] = {"ansible_host": "%s.%d.%d" % (prefix, 1 + n // 250, 1 + n % 250)}
            groups["htcondor_executors"].append(host)
        groups["site_" + name] = sorted(members)
        lines.append("    site_%s:" % name)
        rendered = ["%s: %s" % (k, v if not isinstance(v, str) else '"%s"' % v) for k, v in site_vars.items()]
        lines.append("      vars: {%s}" % ", ".join(rendered))
        lines.append("      hosts:")
        for host, host_vars in sorted(members.items()):
            merged = dict(site_vars)
            merged.update(host_vars)
            hostvars[host] = merged
            groups["all"].append(host)
            lines.append("        %s: {%s}" % (host, ", ".join('%s: "%s"' % kv for kv in host_vars.items())))
    for group in ("htcondor_central_managers", "htcondor_submitters", "htcondor_executors", "etcd"):
        lines.append("    %s:" % group)
        lines.append("      hosts:")
        lines.extend("        %s:" % host for host in groups[group])
    return hostvars, groups, "\n".join(lines) + "\n"


POOL_DOMAIN = "bench.example"
# Where the generated pool's hosts keep Calico's artifacts (an air-gapped site's layout; the files need not exist).
ARTIFACTS = "/var/cache/htcfarm-bsaas/artifacts"
AIR_GAPPED = {
    "calico_node_image_archive": ARTIFACTS + "/calico-node-v2.6.12.tar",
    "calico_calicoctl_url": ARTIFACTS + "/calicoctl-v1.6.5",
    "calico_cni_url_base": ARTIFACTS + "/calico-cni-v1.11.8",
}


def role_config(topology, groups, host):
    """{file name: text} of the config.d the htcondor role writes on ``host`` from its topology inputs."""
    settings = topo.htcondor_settings(topology, host, POOL_DOMAIN)
    return dict((condor.fragment_file_name(name), condor.render_fragment(fragment["knobs"], fragment["use"], name))
                for name, fragment in condor.host_fragments(host, groups, settings).items())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executors", type=int, default=1000)
    parser.add_argument("--parse-sample", type=int, default=25, help="config files read back with htcondor2")
    parser.add_argument("--no-ansible", action="store_true", help="skip the ansible-playbook preflight run")
    args = parser.parse_args()

    hostvars, groups, inventory_text = generate(args.executors)
    hosts = len(hostvars)
    print("pool: %d hosts (%d executors) in %d sites" % (hosts, args.executors, len(SITES)))

    start = time.perf_counter()
    topology = topo.compute_topology(hostvars, groups)
    topology_s = time.perf_counter() - start
    assert not topology["errors"], topology["errors"]
    peers = sum(len(h["calico"]["bgp_peers"]) for h in topology["hosts"].values())
    ccb = sum(1 for h in topology["hosts"].values() if h["htcondor"]["ccb_address"])
    print("topology: %.3f s total, %.1f us per host (%d BGP sessions, %d hosts behind CCB)"
          % (topology_s, topology_s / hosts * 1e6, peers, ccb))

    workdir = tempfile.mkdtemp(prefix="bsaas-bench-")
    start = time.perf_counter()
    texts = {}
    for name in topology["hosts"]:
        texts[name] = role_config(topology, groups, name)
    generate_s = time.perf_counter() - start
    print("config generation (htcondor role's host_fragments, %d fragments): %.3f s total, %.1f us per host"
          % (sum(len(files) for files in texts.values()), generate_s, generate_s / hosts * 1e6))

    try:
        import htcondor2
    except ImportError:
        print("parse sample: skipped (htcondor2 not installed)")
    else:
        sample = sorted(texts)[:: max(1, hosts // args.parse_sample)][: args.parse_sample]
        start = time.perf_counter()
        for name in sample:
            config_dir = os.path.join(workdir, name, "config.d")
            os.makedirs(config_dir)
            for file_name, text in texts[name].items():
                with open(os.path.join(config_dir, file_name), "w") as handle:
                    handle.write(text)
            root = os.path.join(workdir, name, "condor_config")
            with open(root, "w") as handle:
                handle.write("LOCAL_CONFIG_DIR = %s\n" % config_dir)
            os.environ["CONDOR_CONFIG"] = root
            htcondor2.reload_config()
            inputs = topo.host_variables(topology, name)
            expected = {"PRIVATE_NETWORK_NAME": inputs["htcondor_private_network_name"],
                        "CONDOR_HOST": ", ".join(inputs["htcondor_central_manager_names"].values()),
                        "COLLECTOR_HOST": topology["hosts"][name]["htcondor"]["collector_host"]}
            if inputs["htcondor_ccb_address"]:
                # $(COLLECTOR_HOST), as HTCondor expands it.
                expected["CCB_ADDRESS"] = expected["COLLECTOR_HOST"]
            for knob, value in expected.items():
                if htcondor2.param.get(knob) != value:
                    raise SystemExit("htcondor2 read back %s = %r for %s, the topology says %r"
                                     % (knob, htcondor2.param.get(knob), name, value))
        parse_s = time.perf_counter() - start
        per_host_ms = parse_s / len(sample) * 1e3
        print("htcondor2 read-back: %d hosts' config.d in %.3f s, %.1f ms per host"
              % (len(sample), parse_s, per_host_ms))

    if args.no_ansible:
        return
    inventory_dir = os.path.join(workdir, "inventory")
    os.makedirs(os.path.join(inventory_dir, "group_vars"))
    with open(os.path.join(inventory_dir, "hosts.yml"), "w") as handle:
        handle.write(inventory_text)
    with open(os.path.join(inventory_dir, "group_vars", "all.yml"), "w") as handle:
        handle.write("bsaas_pool_name: bench\nbsaas_htcondor_mode: native\n")
        # Calico stays enabled, so its role checks run on every host as in a real pool, but as an air-gapped site
        # declares it: calico/node, calicoctl and the CNI plugins from files on the hosts, which the controller
        # leaves to the hosts' own probe. Preflight then reaches for no registry or download site (from GitHub
        # without a checksum it would be refused on a machine with network access).
        for name, value in sorted(AIR_GAPPED.items()):
            handle.write('%s: "%s"\n' % (name, value))
    env = dict(os.environ, ANSIBLE_FORKS="20", ANSIBLE_HOST_KEY_CHECKING="false")
    cmd = ["ansible-playbook", "-i", inventory_dir, os.path.join(REPO, "playbooks", "preflight.yml")]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    preflight_s = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stdout[-3000:])
        raise SystemExit("ansible-playbook preflight failed (exit %d)" % proc.returncode)
    reached = [name for name in ("quay.io", "docker.io", "github.com") if name in proc.stdout]
    if reached:
        raise SystemExit("preflight probed %s; the generated pool must name only local artifacts" % ", ".join(reached))
    recap = [line for line in proc.stdout.splitlines() if "changed=" in line]
    changed = sum(int(line.split("changed=")[1].split()[0]) for line in recap)
    # Includes ansible-playbook start-up and parsing the 1,000-host inventory; runs on the controller only.
    print("ansible-playbook preflight.yml (topology, checks, plan, per-host inputs): %.1f s total, "
          "%.1f ms per host, changed=%d" % (preflight_s, preflight_s / hosts * 1e3, changed))


if __name__ == "__main__":
    main()
