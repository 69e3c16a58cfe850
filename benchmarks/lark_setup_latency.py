#!/usr/bin/env python3
"""Per-job Lark setup+teardown latency against the bare kernel operations, measured in the same run.

bare : ip netns add J; ip link add <veth> peer netns J; ip netns del J
bare+del: the same with the host veth deleted before the netns (synchronous, as Lark's teardown)
lark : ip netns add J (what the starter does); Lark setup (veth, addresses, routes, counters
       [, tc]); ip netns del J; Lark teardown (counters read, firewall objects removed, record written)

Runs as root inside a private network namespace it creates and deletes, so the host's own
network and firewall are untouched. Prints p50/p99 in milliseconds and the ratio lark/bare
(goal: below 1.5). Usage: lark_setup_latency.py [iterations] (default 100).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "plugins", "module_utils"))
import lark  # noqa: E402


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def measure(iterations, policy):
    bare, bare_del, lark_times = [], [], []
    plan_plain = lark.plan_job(policy, {})
    for number in range(iterations):
        job_ns = f"lkb{number}"
        start = time.perf_counter()
        sh("ip", "netns", "add", job_ns)
        sh("ip", "link", "add", f"bv{number}", "type", "veth", "peer", "name", "eth0", "netns", job_ns)
        sh("ip", "netns", "del", job_ns)
        bare.append(time.perf_counter() - start)

        # the same, but waiting for the veth to be gone, as Lark does before it reads the counters
        start = time.perf_counter()
        sh("ip", "netns", "add", job_ns)
        sh("ip", "link", "add", f"bw{number}", "type", "veth", "peer", "name", "eth0", "netns", job_ns)
        sh("ip", "link", "del", f"bw{number}")
        sh("ip", "netns", "del", job_ns)
        bare_del.append(time.perf_counter() - start)

        start = time.perf_counter()
        sh("ip", "netns", "add", job_ns)
        lease = lark.setup_job(policy, plan_plain, job_ns, starter_pid=os.getpid(), uid=1000)
        sh("ip", "netns", "del", job_ns)
        lark.teardown_job(policy, lease, "job-exit")
        lark_times.append(time.perf_counter() - start)
    return bare, bare_del, lark_times


def report(label, bare, bare_del, measured):
    b50, b99 = percentile(bare, 0.5) * 1000, percentile(bare, 0.99) * 1000
    d50, d99 = percentile(bare_del, 0.5) * 1000, percentile(bare_del, 0.99) * 1000
    l50, l99 = percentile(measured, 0.5) * 1000, percentile(measured, 0.99) * 1000
    print(f"{label}:")
    print(f"  bare netns add + veth + netns del      p50 {b50:7.2f} ms  p99 {b99:7.2f} ms")
    print(f"  bare, veth deleted synchronously       p50 {d50:7.2f} ms  p99 {d99:7.2f} ms")
    print(f"  lark (same netns add/del + setup/teardown) p50 {l50:7.2f} ms  p99 {l99:7.2f} ms"
          f"  mean {statistics.mean(measured) * 1000:.2f} ms")
    print(f"  ratio lark/bare        p50 {l50 / b50:4.2f}x  p99 {l99 / b99:4.2f}x   (goal < 1.5x)")
    print(f"  ratio lark/bare+del    p50 {l50 / d50:4.2f}x  p99 {l99 / d99:4.2f}x")


def inside(iterations, workdir):
    base = {"nft_table": "lark_bench", "interface_prefix": "lkbv", "max_jobs": 8, "state_dir": os.path.join(workdir, "run"),
            "record_dir": os.path.join(workdir, "records"),
            "accounting": {"enabled": True, "campus_networks": ["10.99.0.0/16"]}}
    plain = lark.validate_policy(base)
    shaped = lark.validate_policy(dict(base, bandwidth={"enabled": True, "job_rate": "20mbit"},
                                       priority={"enabled": True, "default": "bulk"}))
    lark.init_host(plain)
    print(f"Lark setup+teardown latency, {iterations} jobs per variant, kernel {os.uname().release}")
    report("NAT + accounting", *measure(iterations, plain))
    lark.init_host(shaped)
    report("NAT + accounting + 20mbit both ways + DSCP", *measure(iterations, shaped))
    # The deployed path adds one sudo and one Python start per call (setup and finish).
    starts = []
    for _attempt in range(20):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import lark",
                        os.path.dirname(lark.__file__)], check=True)
        starts.append(time.perf_counter() - start)
    print(f"helper interpreter start + import (per call, not in the ratio): p50 {percentile(starts, 0.5) * 1000:.1f} ms")
    time.sleep(0.5)  # namespace destruction is asynchronous in the kernel
    leftover = json.loads(subprocess.run(["ip", "-j", "link", "show"], stdout=subprocess.PIPE, check=True).stdout)
    assert not [l for l in leftover if l["ifname"].startswith(("lkbv", "bv"))], "benchmark left job links behind"


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None:
        print("lark_setup_latency: skipped, needs root, iproute2 and nftables")
        return 0
    if os.environ.get("LARK_BENCH_INSIDE"):
        inside(iterations, os.environ["LARK_BENCH_INSIDE"])
        return 0
    node_ns = f"lkbench-{uuid.uuid4().hex[:6]}"
    workdir = tempfile.mkdtemp(prefix="lark-bench-")
    sh("ip", "netns", "add", node_ns)
    try:
        env = dict(os.environ, LARK_BENCH_INSIDE=workdir)
        return subprocess.run(["ip", "netns", "exec", node_ns, sys.executable, os.path.abspath(__file__),
                               str(iterations)], env=env, check=False).returncode
    finally:
        sh("ip", "netns", "del", node_ns)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
