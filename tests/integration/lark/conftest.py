"""A throw-away execute node for the Lark kernel tests.

Everything lives in network namespaces this fixture creates (the "execute node", an "uplink
server" and a "VLAN router"), so the tests touch neither the machine's own network, firewall
nor other engineers' runs. The helper, wrapper and exit hook are the role's real templates,
rendered into a private directory and called through a real sudo rule, as on a node.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TEMPLATES = os.path.join(REPO, "roles", "lark", "templates")
STARTER = os.path.join(os.path.dirname(__file__), "starter.py")
JOB_UID = 65534  # nobody: an unprivileged slot user

sys.path.insert(0, os.path.join(REPO, "plugins", "module_utils"))
import lark  # noqa: E402


def _need(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (apt-get install {tool})")


def sh(*argv, check=True, input=None, timeout=120):
    proc = subprocess.run(list(argv), input=input.encode() if input else None, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {proc.returncode}: {proc.stderr.decode()}")
    return proc.stdout.decode()


class Node:
    """One execute node in a namespace, with a campus/off-campus server and a VLAN router behind it."""

    def __init__(self):
        self.tag = "t" + uuid.uuid4().hex[:4]  # interface prefix, also keys every name below
        self.ns = f"lkit-{self.tag}-node"
        self.server_ns = f"lkit-{self.tag}-srv"
        self.vlan_ns = f"lkit-{self.tag}-vlan"
        self.dir = f"/tmp/lark-it-{self.tag}"
        self.out = os.path.join(self.dir, "out")
        self.sudoers = f"/etc/sudoers.d/lark-it-{self.tag}"
        self.table = f"lark_{self.tag}"
        self.procs = []
        self.policy = None

    # -- building -------------------------------------------------------------------------
    def build(self, policy):
        for tool in ("ip", "tc", "nft", "sudo", "setpriv", "unshare", "nsenter", "iperf3"):
            _need(tool)
        if os.geteuid() != 0:
            pytest.skip("the Lark kernel tests need root (network namespaces, veth, tc, nft, sudo)")
        os.makedirs(self.out)
        os.chmod(self.dir, 0o755)
        os.chmod(self.out, 0o777)
        t = self.tag
        for ns in (self.ns, self.server_ns, self.vlan_ns):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", self.ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # uplink: the node's campus (10.99.0.0/24) and off-campus (203.0.113.0/24) side
        sh("ip", "-n", self.ns, "link", "add", f"up-{t}", "type", "veth", "peer", "name", "srv0", "netns", self.server_ns)
        self.node_batch(f"addr add 10.99.0.1/24 dev up-{t}\naddr add 203.0.113.1/24 dev up-{t}\nlink set up-{t} up\n")
        sh("ip", "-n", self.server_ns, "-batch", "-", input=(
            "addr add 10.99.0.2/24 dev srv0\naddr add 203.0.113.2/24 dev srv0\nlink set srv0 up\n"))
        # Link to the split network's router (192.168.77.1). This kernel has no 8021q module, so the
        # link is an access port (untagged); tagged VLANs use the same bridge with parent.vlan.
        sh("ip", "-n", self.ns, "link", "add", f"tr-{t}", "type", "veth", "peer", "name", "trunk0", "netns", self.vlan_ns)
        self.node_batch(f"link set tr-{t} up\n")
        sh("ip", "-n", self.vlan_ns, "-batch", "-", input=(
            "link set trunk0 up\naddr add 192.168.77.1/24 dev trunk0\n"))
        base = {
            "nft_table": self.table, "interface_prefix": t, "state_dir": os.path.join(self.dir, "run"),
            "record_dir": os.path.join(self.dir, "records"), "starter_names": [f"{t}-starter"],
            "min_job_uid": 1000, "max_jobs": 32,
            "networks": {"nat": {"type": "nat", "subnet": "10.213.0.0/16"},
                         "split": {"type": "bridge", "bridge": f"br-{t}", "subnet": "192.168.77.0/24",
                                   "gateway": "192.168.77.1", "first_address": "192.168.77.10",
                                   "parent": f"tr-{t}"}},
            "job_selectable_networks": ["split"],
            "accounting": {"enabled": True, "campus_networks": ["10.99.0.0/16"]},
        }
        base.update(policy or {})
        self.policy = lark.validate_policy(base)
        with open(os.path.join(self.dir, "policy.json"), "w") as handle:
            handle.write(lark.policy_json(self.policy))
        shutil.copy(os.path.join(REPO, "plugins", "module_utils", "lark.py"), os.path.join(self.dir, "lark.py"))
        import jinja2
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), keep_trailing_newline=True)
        values = {"lark_python_interpreter": "/usr/bin/python3", "lark_libexec_dir": self.dir,
                  "lark_config_dir": self.dir, "lark_required": True, "ansible_managed": "lark kernel test"}
        for template, name in (("lark-helper.py.j2", "lark-helper"), ("lark-job-wrapper.sh.j2", "wrapper"),
                               ("lark-hook-job-exit.sh.j2", "exit-hook")):
            path = os.path.join(self.dir, name)
            with open(path, "w") as handle:
                handle.write(env.get_template(template).render(**values))
            os.chmod(path, 0o755)
        rule = (f"nobody ALL=(root) NOPASSWD: {self.dir}/lark-helper run -- *, {self.dir}/lark-helper setup, "
                f"{self.dir}/lark-helper finish\n")
        tmp = self.sudoers + ".tmp"
        with open(tmp, "w") as handle:
            handle.write(rule)
        os.chmod(tmp, 0o440)
        sh("visudo", "-cf", tmp)
        os.rename(tmp, self.sudoers)
        self.helper("init")
        return self

    def node_batch(self, text):
        return sh("ip", "-n", self.ns, "-batch", "-", input=text)

    def in_node(self, *argv, check=True, input=None):
        return sh("ip", "netns", "exec", self.ns, *argv, check=check, input=input)

    def helper(self, command, check=True):
        return self.in_node(os.path.join(self.dir, "lark-helper"), command, check=check)

    def job_ad(self, **attrs):
        path = os.path.join(self.out, f"job-{uuid.uuid4().hex[:8]}.ad")
        with open(path, "w") as handle:
            for key, value in attrs.items():
                handle.write(f"{key} = {json.dumps(value)}\n")
        os.chmod(path, 0o644)
        return path

    # -- jobs -----------------------------------------------------------------------------
    def start_job(self, argv, ad=None):
        """Start one job under the stand-in starter; returns the Popen (stdout: JSON lines)."""
        ad = ad or self.job_ad()
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable, STARTER, f"{self.tag}-starter", str(JOB_UID),
             os.path.join(self.dir, "wrapper"), os.path.join(self.dir, "exit-hook"), ad, "--"] + list(argv),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.procs.append(proc)
        return proc

    def run_job(self, argv, ad=None, timeout=120):
        proc = self.start_job(argv, ad)
        out, err = proc.communicate(timeout=timeout)
        lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
        assert lines, f"starter printed nothing: {err.decode()}"
        result = lines[-1]
        result["stderr"] = err.decode()
        return result

    def wait_job_pid(self, proc):
        line = proc.stdout.readline().decode()
        return json.loads(line)["job_pid"]

    # -- inspection -----------------------------------------------------------------------
    def leftovers(self):
        """Everything of Lark's that a finished job could leave behind on the node."""
        left = {}
        links = json.loads(self.in_node("ip", "-j", "link", "show"))
        left["links"] = [l["ifname"] for l in links if l["ifname"].startswith(self.tag)]
        qdiscs = json.loads(self.in_node("tc", "-j", "qdisc", "show") or "[]")
        left["qdiscs"] = [q["dev"] for q in qdiscs if q.get("dev", "").startswith(self.tag) and q.get("kind") == "htb"]
        objects = []
        for family in ("inet", "bridge"):
            data = json.loads(self.in_node("nft", "-j", "list", "table", family, self.table))
            for item in data["nftables"]:
                # Slots' chains and counters are made once at init; a finished job must leave its
                # counters at zero and no entry in a DSCP class.
                if "counter" in item and (item["counter"]["packets"] or item["counter"]["bytes"]):
                    objects.append(f"{family} counter {item['counter']['name']} not zeroed: "
                                   f"{item['counter']['packets']} packets {item['counter']['bytes']} bytes")
                if "set" in item and item["set"]["name"].startswith("dscp_") and item["set"].get("elem"):
                    objects.append(f"{family} set {item['set']['name']} {item['set']['elem']}")
                if "map" in item and item["map"].get("elem"):
                    objects.append(f"{family} map {item['map']['name']} {item['map']['elem']}")
        left["nft"] = objects
        lease_dir = os.path.join(self.policy["state_dir"], "leases")
        left["leases"] = sorted(n for n in os.listdir(lease_dir) if n.endswith(".json")) \
            if os.path.isdir(lease_dir) else []
        left["netns_files"] = [n for n in os.listdir("/run/netns") if self.tag in n and
                               n not in (self.ns, self.server_ns, self.vlan_ns)] if os.path.isdir("/run/netns") else []
        return {k: v for k, v in left.items() if v}

    def records(self):
        directory = self.policy["record_dir"]
        if not os.path.isdir(directory):
            return []
        result = []
        for name in sorted(os.listdir(directory)):
            with open(os.path.join(directory, name)) as handle:
                result.append(json.load(handle))
        return result

    # -- teardown -------------------------------------------------------------------------
    def destroy(self):
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, 9)
                except OSError:
                    pass
                proc.wait()
        # Job processes live in their own namespaces under a different session: kill by uid+namespace origin.
        for ns in (self.ns, self.server_ns, self.vlan_ns):
            pids = sh("ip", "netns", "pids", ns, check=False).split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except OSError:
                    pass
            sh("ip", "netns", "del", ns, check=False)
        if os.path.exists(self.sudoers):
            os.unlink(self.sudoers)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def make_node():
    nodes = []

    def factory(policy=None):
        node = Node()
        nodes.append(node)
        return node.build(policy)

    yield factory
    for node in nodes:
        node.destroy()


@pytest.fixture
def server(request):
    """Start a long-running process inside one of a node's namespaces; killed at the end."""
    procs = []

    def start(node, ns, *argv):
        proc = subprocess.Popen(["ip", "netns", "exec", ns] + list(argv), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        procs.append(proc)
        time.sleep(0.3)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait()
