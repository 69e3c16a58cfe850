# -*- coding: utf-8 -*-
# Copyright: (c) htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lark: one network namespace and one veth pair per HTCondor job.

This file is used twice, written once:
- by the ``lark_policy`` module (policy validation, overlap checks), and
- on execute nodes as the library behind the root-owned ``lark-helper`` that the
  job wrapper and the job-exit hook call through one sudo rule.

It depends on the Python standard library only (EL7's Python 3.6 included), and
drives the kernel through iproute2 (``ip``, ``tc``) and ``nft``.
"""
from __future__ import absolute_import, division, print_function

import errno
import fcntl
import ipaddress
import json
import os
import pwd
import re
import signal
import socket
import struct
import subprocess
import sys
import time

__metaclass__ = type

POLICY_VERSION = 1
DEFAULT_POLICY_PATH = "/etc/lark/policy.json"
NETWORK_TYPES = ("nat", "bridge")
PRIORITY_CLASSES = {
    # DSCP code points that site routers honour; "normal" leaves packets unmarked.
    "bulk": "cs1",
    "normal": "cs0",
    "interactive": "af41",
}
# tc's units (see tc(8)): bit-based and byte-based (bps = bytes per second).
_RATE_UNITS = {
    "bit": 1, "kbit": 10 ** 3, "mbit": 10 ** 6, "gbit": 10 ** 9, "tbit": 10 ** 12,
    "kibit": 2 ** 10, "mibit": 2 ** 20, "gibit": 2 ** 30, "tibit": 2 ** 40,
    "bps": 8, "kbps": 8 * 10 ** 3, "mbps": 8 * 10 ** 6, "gbps": 8 * 10 ** 9, "tbps": 8 * 10 ** 12,
}
_RATE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")
_IFNAME_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,5}$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_JOB_IFNAME = "eth0"
# Job ad attributes a job may set to select among what the pool allows.
JOB_ATTR_NETWORK = "LarkNetwork"
JOB_ATTR_RATE = "LarkBandwidth"
JOB_ATTR_PRIORITY = "LarkPriority"
JOB_ATTR_CPUS = "RequestCpus"


class LarkError(Exception):
    """An error with a message that names the cause and the fix."""


class LarkPolicyError(LarkError):
    """The policy (or a job's request) is wrong; nothing was changed."""


class LarkDenied(LarkError):
    """The caller is not a job this helper may act for."""


# --------------------------------------------------------------------------- rates

def parse_rate(value, what="rate"):
    """Return a tc-style rate ("20mbit", "2.5gbit", "1mbps") or a bare int in bit/s as int bit/s."""
    if isinstance(value, bool):
        raise LarkPolicyError(f"{what}: {value!r} is not a rate; write it as tc does, e.g. '20mbit' or '1gbit'")
    if isinstance(value, int):
        bits = value
    else:
        match = _RATE_RE.match(str(value))
        unit = match.group(2).lower() if match else None
        if not match or (unit and unit not in _RATE_UNITS):
            raise LarkPolicyError(
                f"{what}: {value!r} is not a rate; write a number with a tc unit "
                f"({', '.join(sorted(_RATE_UNITS))}), e.g. '20mbit'")
        bits = int(float(match.group(1)) * _RATE_UNITS[unit or "bit"])
    if bits < 8000:
        raise LarkPolicyError(f"{what}: {value!r} is below 8kbit, which tc cannot shape; raise it or leave it empty")
    return bits


def format_rate(bits):
    return f"{int(bits)}bit"


def _human_rate(bits):
    for unit, size in (("gbit", 10 ** 9), ("mbit", 10 ** 6), ("kbit", 10 ** 3)):
        if bits >= size and bits % size == 0:
            return f"{bits // size}{unit}"
    return f"{int(bits)}bit"


# --------------------------------------------------------------------------- policy

def default_policy():
    return {
        "version": POLICY_VERSION,
        "nft_table": "lark",
        "interface_prefix": "lk",
        "state_dir": "/run/lark",
        "record_dir": "/var/lib/lark/records",
        "starter_names": ["condor_starter"],
        "starter_uids": [0],
        "min_job_uid": 1000,
        # Accounts below min_job_uid that are still job accounts (HTCondor's slot users are system accounts).
        "job_uids": [],
        # true: a job whose network cannot be set up does not run (it is held); false: it runs without one.
        "required": True,
        "max_jobs": 256,
        "mtu": 1500,
        "default_network": "nat",
        "job_selectable_networks": [],
        "networks": {"nat": {"type": "nat", "subnet": "10.213.0.0/16", "block_host": True}},
        "accounting": {"enabled": True, "campus_networks": []},
        "bandwidth": {"enabled": False, "job_rate": None, "rate_per_cpu": None, "job_may_lower": True},
        "priority": {"enabled": False, "default": "normal", "job_selectable": True},
    }


def _merge(base, override):
    merged = dict(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "networks":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _network(text, what):
    try:
        return ipaddress.ip_network(str(text), strict=True)
    except ValueError as exc:
        raise LarkPolicyError(f"{what}: {text!r} is not a network in CIDR form ({exc}); write e.g. '10.213.0.0/16'")


def validate_policy(policy):
    """Merge defaults, check every field, and return the normalised policy (raises LarkPolicyError)."""
    if not isinstance(policy, dict):
        raise LarkPolicyError("policy must be a mapping")
    known = set(default_policy())
    unknown = sorted(set(policy) - known)
    if unknown:
        raise LarkPolicyError(
            f"unknown policy {', '.join(unknown)}; known policies are {', '.join(sorted(known))}")
    pol = _merge(default_policy(), policy)
    for section, keys in (("accounting", ("enabled", "campus_networks")),
                          ("bandwidth", ("enabled", "job_rate", "rate_per_cpu", "job_may_lower")),
                          ("priority", ("enabled", "default", "job_selectable"))):
        extra = sorted(set(pol[section]) - set(keys))
        if extra:
            raise LarkPolicyError(
                f"unknown policy {section}.{extra[0]}; {section} takes {', '.join(keys)}")
    if not _IFNAME_PREFIX_RE.match(str(pol["interface_prefix"])):
        raise LarkPolicyError(
            f"interface_prefix {pol['interface_prefix']!r} must be 1-6 lowercase letters/digits starting with "
            "a letter, so that job interface names stay within the kernel's 15 characters")
    if not _NAME_RE.match(str(pol["nft_table"])):
        raise LarkPolicyError(f"nft_table {pol['nft_table']!r} must match {_NAME_RE.pattern}")
    for key in ("state_dir", "record_dir"):
        if not str(pol[key]).startswith("/"):
            raise LarkPolicyError(f"{key} {pol[key]!r} must be an absolute path")
    if not pol["starter_names"] or not all(isinstance(n, str) and 0 < len(n) <= 15 for n in pol["starter_names"]):
        raise LarkPolicyError("starter_names must list process names (comm, at most 15 characters), e.g. condor_starter")
    for key in ("min_job_uid", "max_jobs", "mtu"):
        if not isinstance(pol[key], int) or isinstance(pol[key], bool) or pol[key] < 1:
            raise LarkPolicyError(f"{key} must be a positive integer, got {pol[key]!r}")
    if not isinstance(pol["job_uids"], list) or not all(
            isinstance(u, int) and not isinstance(u, bool) and u >= 1 for u in pol["job_uids"]):
        raise LarkPolicyError(f"job_uids must list account uids (at least 1, never root), got {pol['job_uids']!r}")
    if not isinstance(pol["required"], bool):
        raise LarkPolicyError(f"required must be true or false, got {pol['required']!r}")
    if pol["min_job_uid"] < 1:
        raise LarkPolicyError("min_job_uid must be at least 1: root jobs never get a Lark namespace")
    if pol["max_jobs"] > 4096:
        raise LarkPolicyError(f"max_jobs {pol['max_jobs']} is above 4096; each slot has firewall objects made at boot")
    if not 576 <= pol["mtu"] <= 65535:
        raise LarkPolicyError(f"mtu {pol['mtu']} must be between 576 and 65535")

    networks = pol["networks"]
    if not isinstance(networks, dict) or not networks:
        raise LarkPolicyError("networks must define at least one network, e.g. {nat: {type: nat, subnet: 10.213.0.0/16}}")
    normal_networks = {}
    for name, net in networks.items():
        if not _NAME_RE.match(str(name)):
            raise LarkPolicyError(f"network name {name!r} must match {_NAME_RE.pattern}")
        normal_networks[name] = _validate_network(name, net, pol)
    pol["networks"] = normal_networks
    if pol["default_network"] not in normal_networks:
        raise LarkPolicyError(
            f"default_network {pol['default_network']!r} is not one of the defined networks "
            f"({', '.join(sorted(normal_networks))})")
    for name in pol["job_selectable_networks"]:
        if name not in normal_networks:
            raise LarkPolicyError(f"job_selectable_networks names {name!r}, which is not a defined network")
    _check_network_overlaps(normal_networks)

    pol["accounting"]["campus_networks"] = [
        str(_network(c, "accounting.campus_networks")) for c in pol["accounting"]["campus_networks"]]
    band = pol["bandwidth"]
    for key in ("job_rate", "rate_per_cpu"):
        if band[key] not in (None, ""):
            band[key] = format_rate(parse_rate(band[key], f"bandwidth.{key}"))
        else:
            band[key] = None
    if band["enabled"] and not (band["job_rate"] or band["rate_per_cpu"]):
        raise LarkPolicyError("bandwidth.enabled is true but neither bandwidth.job_rate nor bandwidth.rate_per_cpu is set")
    prio = pol["priority"]
    if prio["default"] not in PRIORITY_CLASSES:
        raise LarkPolicyError(
            f"priority.default {prio['default']!r} is unknown; use one of {', '.join(sorted(PRIORITY_CLASSES))}")
    return pol


def _validate_network(name, net, pol):
    if not isinstance(net, dict):
        raise LarkPolicyError(f"networks.{name} must be a mapping")
    kind = net.get("type")
    if kind not in NETWORK_TYPES:
        raise LarkPolicyError(
            f"networks.{name}.type {kind!r} is unknown; use one of {', '.join(NETWORK_TYPES)}")
    allowed = {"nat": {"type", "subnet", "block_host"},
               "bridge": {"type", "subnet", "bridge", "gateway", "first_address", "vlan", "parent"}}[kind]
    extra = sorted(set(net) - allowed)
    if extra:
        raise LarkPolicyError(f"unknown policy networks.{name}.{extra[0]}; a {kind} network takes {', '.join(sorted(allowed))}")
    subnet = _network(net.get("subnet"), f"networks.{name}.subnet")
    if subnet.version != 4:
        raise LarkPolicyError(f"networks.{name}.subnet must be IPv4 (job addressing is IPv4 for now)")
    out = dict(net)
    out["subnet"] = str(subnet)
    if kind == "nat":
        if subnet.prefixlen > 29:
            raise LarkPolicyError(f"networks.{name}.subnet {subnet} is too small; NAT jobs take a /30 each, use /29 or larger")
        out["block_host"] = bool(net.get("block_host", True))
    else:
        bridge = net.get("bridge")
        if not bridge or not re.match(r"^[A-Za-z0-9_.-]{1,15}$", str(bridge)):
            raise LarkPolicyError(f"networks.{name}.bridge must name the Linux bridge of the split network (1-15 characters)")
        gateway = net.get("gateway")
        try:
            gateway_ip = ipaddress.ip_address(str(gateway))
        except ValueError:
            raise LarkPolicyError(f"networks.{name}.gateway {gateway!r} must be the router address on that VLAN")
        if gateway_ip not in subnet:
            raise LarkPolicyError(f"networks.{name}.gateway {gateway_ip} is not inside networks.{name}.subnet {subnet}")
        first = net.get("first_address") or str(subnet.network_address + 2)
        try:
            first_ip = ipaddress.ip_address(str(first))
        except ValueError:
            raise LarkPolicyError(f"networks.{name}.first_address {first!r} is not an address")
        if first_ip not in subnet:
            raise LarkPolicyError(f"networks.{name}.first_address {first_ip} is not inside {subnet}")
        out["gateway"] = str(gateway_ip)
        out["first_address"] = str(first_ip)
        vlan = net.get("vlan")
        if vlan is not None and (not isinstance(vlan, int) or isinstance(vlan, bool) or not 1 <= vlan <= 4094):
            raise LarkPolicyError(f"networks.{name}.vlan must be an 802.1Q id between 1 and 4094, got {vlan!r}")
        if vlan is not None and not net.get("parent"):
            raise LarkPolicyError(f"networks.{name}.vlan needs networks.{name}.parent, the uplink interface that carries the VLAN")
    return out


def _check_network_overlaps(networks):
    names = sorted(networks)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            a = ipaddress.ip_network(networks[first]["subnet"])
            b = ipaddress.ip_network(networks[second]["subnet"])
            if a.overlaps(b):
                raise LarkPolicyError(
                    f"networks.{first}.subnet {a} overlaps networks.{second}.subnet {b}; give each job network its own range")


def host_networks(run=None):
    """Networks the host already uses: its addresses' prefixes and its routes, from iproute2's JSON."""
    run = run or _run_json
    found = []
    for entry in run(["ip", "-j", "-4", "addr", "show"]):
        for info in entry.get("addr_info", []):
            if info.get("family") == "inet" and info.get("local"):
                net = ipaddress.ip_network(f"{info['local']}/{info['prefixlen']}", strict=False)
                found.append((net, f"address {info['local']}/{info['prefixlen']} on {entry.get('ifname')}"))
    for route in run(["ip", "-j", "-4", "route", "show", "table", "all"]):
        dst = route.get("dst")
        if not dst or dst == "default" or route.get("type") in ("local", "broadcast"):
            continue
        try:
            net = ipaddress.ip_network(dst if "/" in dst else dst + "/32", strict=False)
        except ValueError:
            continue
        found.append((net, f"route {dst} dev {route.get('dev', '?')}"))
    return found


def check_host_overlaps(policy, existing, own_prefix=None):
    """Fail when a job subnet overlaps a network the host already uses (other than Lark's own)."""
    prefix = own_prefix or policy["interface_prefix"]
    bridges = {n.get("bridge") for n in policy["networks"].values() if n["type"] == "bridge"}
    for name, net in sorted(policy["networks"].items()):
        subnet = ipaddress.ip_network(net["subnet"])
        for other, where in existing:
            # Lark's own job links and split bridges are ours, not a conflict.
            if f" on {prefix}" in where or f" dev {prefix}" in where:
                continue
            if any(b and (where.endswith(f" on {b}") or where.endswith(f" dev {b}")) for b in bridges):
                continue
            if subnet.overlaps(other):
                raise LarkPolicyError(
                    f"networks.{name}.subnet {subnet} overlaps the host's {where}; "
                    "choose a job subnet the host does not use")


def load_policy(path=DEFAULT_POLICY_PATH):
    try:
        with open(path) as handle:
            return validate_policy(json.load(handle))
    except (IOError, OSError) as exc:
        raise LarkError(f"cannot read the Lark policy {path}: {exc}; deploy it with the htcfarm.bsaas.lark role")
    except ValueError as exc:
        raise LarkPolicyError(f"{path} is not valid JSON ({exc}); re-deploy it with htcfarm.bsaas.lark_policy")


def policy_json(policy):
    return json.dumps(policy, indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------------------- job request

def parse_job_ad(text):
    """Read the job ClassAd (old syntax, as HTCondor writes .job.ad) with the bindings when present."""
    if not text.strip():
        return {}
    for module_name in ("classad2", "classad"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        try:
            ad = module.parseOne(text)
        except Exception:  # the bindings raise their own types; fall through to the plain reader
            break
        wanted = (JOB_ATTR_NETWORK, JOB_ATTR_RATE, JOB_ATTR_PRIORITY, JOB_ATTR_CPUS)
        result = {}
        for key in wanted:
            if key in ad:
                value = ad.eval(key) if hasattr(ad, "eval") else ad[key]
                if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                    result[key] = value
        return result
    # Execute nodes without the bindings: only literal strings and numbers of the few
    # attributes Lark reads are taken; anything else (expressions) is ignored.
    result = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in (JOB_ATTR_NETWORK, JOB_ATTR_RATE, JOB_ATTR_PRIORITY, JOB_ATTR_CPUS):
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"' and '"' not in value[1:-1]:
            result[key] = value[1:-1]
        elif re.match(r"^[0-9]+$", value):
            result[key] = int(value)
    return result


def plan_job(policy, job_attrs):
    """Decide network, rate and priority for one job from the pool policy and the job's own wishes."""
    network = policy["default_network"]
    wanted = job_attrs.get(JOB_ATTR_NETWORK)
    if wanted not in (None, "", network):
        if wanted not in policy["networks"]:
            raise LarkPolicyError(
                f"the job asks for {JOB_ATTR_NETWORK} = {wanted!r}, which this node does not define; "
                f"use one of {', '.join(sorted(policy['networks']))}")
        if wanted not in policy["job_selectable_networks"]:
            raise LarkPolicyError(
                f"the job asks for {JOB_ATTR_NETWORK} = {wanted!r}, which jobs may not select here "
                f"(selectable: {', '.join(policy['job_selectable_networks']) or 'none'})")
        network = wanted
    rate = None
    band = policy["bandwidth"]
    if band["enabled"]:
        limits = []
        if band["job_rate"]:
            limits.append(parse_rate(band["job_rate"]))
        if band["rate_per_cpu"]:
            cpus = job_attrs.get(JOB_ATTR_CPUS, 1)
            cpus = cpus if isinstance(cpus, int) and cpus > 0 else 1
            limits.append(parse_rate(band["rate_per_cpu"]) * cpus)
        rate = min(limits)
        asked = job_attrs.get(JOB_ATTR_RATE)
        if asked not in (None, ""):
            asked_bits = parse_rate(asked, f"job attribute {JOB_ATTR_RATE}")
            if asked_bits > rate:
                raise LarkPolicyError(
                    f"the job asks for {JOB_ATTR_RATE} = {asked!r}, more than this node allows a job "
                    f"({_human_rate(rate)}); ask for at most that, or leave {JOB_ATTR_RATE} out")
            if band["job_may_lower"]:
                rate = asked_bits
    priority = None
    prio = policy["priority"]
    if prio["enabled"]:
        priority = prio["default"]
        asked = job_attrs.get(JOB_ATTR_PRIORITY)
        if prio["job_selectable"] and asked not in (None, ""):
            if asked not in PRIORITY_CLASSES:
                raise LarkPolicyError(
                    f"the job asks for {JOB_ATTR_PRIORITY} = {asked!r}; use one of {', '.join(sorted(PRIORITY_CLASSES))}")
            priority = asked
    return {"network": network, "rate_bits": rate, "priority": priority,
            "accounting": bool(policy["accounting"]["enabled"])}


# --------------------------------------------------------------------------- processes

def proc_status(pid):
    """Return (comm, ppid, real uid) of a process, read from /proc."""
    with open(f"/proc/{pid}/status") as handle:
        fields = dict(line.split(":", 1) for line in handle if ":" in line)
    return fields["Name"].strip(), int(fields["PPid"].split()[0]), int(fields["Uid"].split()[0])


def netns_id(pid="self"):
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def interfaces_of(pid):
    with open(f"/proc/{pid}/net/dev") as handle:
        return [line.split(":", 1)[0].strip() for line in handle.readlines()[2:]]


def find_caller(pid):
    """The process that ran sudo: walk up from the helper past sudo's own processes."""
    comm, ppid, _uid = proc_status(pid)
    while comm == "sudo" or pid == os.getpid():
        pid = ppid
        comm, ppid, _uid = proc_status(pid)
    return pid


def find_starter(pid, starter_names):
    while pid > 1:
        comm, ppid, uid = proc_status(pid)
        if comm in starter_names:
            return pid, uid
        pid = ppid
    return None, None


def check_job_caller(policy, caller_pid, uid):
    """The checks every job-side command makes: a job account, below a starter Lark trusts.

    Returns the starter's pid; raises LarkDenied naming what is wrong."""
    if uid < policy["min_job_uid"] and uid not in policy["job_uids"]:
        raise LarkDenied(
            f"uid {uid} is below min_job_uid {policy['min_job_uid']} and not in job_uids: "
            "system accounts never get a Lark namespace")
    starter_pid, starter_uid = find_starter(caller_pid, policy["starter_names"])
    if starter_pid is None:
        raise LarkDenied(
            f"process {caller_pid} does not descend from a starter ({', '.join(policy['starter_names'])}); "
            "Lark only serves HTCondor jobs")
    if starter_uid not in policy["starter_uids"]:
        raise LarkDenied(f"the starter {starter_pid} runs as uid {starter_uid}, which is not one of starter_uids")
    return starter_pid


def verify_job(policy, caller_pid, caller_uid):
    """Check that caller_pid is a job this helper may serve; return (starter_pid, namespace inode)."""
    comm, _ppid, uid = proc_status(caller_pid)
    if uid != caller_uid:
        raise LarkDenied(f"process {caller_pid} ({comm}) runs as uid {uid}, not as the caller uid {caller_uid}")
    starter_pid = check_job_caller(policy, caller_pid, uid)
    job_ns = netns_id(caller_pid)
    if job_ns == netns_id(starter_pid):
        raise LarkDenied(
            "the job shares the host's network namespace; set NO_JOB_NETWORKING = true on the execute node "
            "and want_job_networking = false in the job so the starter gives it a fresh one")
    others = [name for name in interfaces_of(caller_pid) if name != "lo"]
    if others:
        raise LarkDenied(
            f"the job's namespace already has {', '.join(others)}; Lark only configures a fresh namespace")
    return starter_pid, job_ns


# --------------------------------------------------------------------------- leases

class LeaseStore:
    """Per-job leases under state_dir, guarded by one flock so concurrent starters never collide."""

    def __init__(self, policy):
        self.policy = policy
        self.directory = os.path.join(policy["state_dir"], "leases")
        self.lock_path = os.path.join(policy["state_dir"], "lock")

    def __enter__(self):
        os.makedirs(self.directory, 0o700, exist_ok=True)  # several jobs may start at once
        self._lock = open(self.lock_path, "a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    def all(self):
        leases = []
        for name in sorted(os.listdir(self.directory)):
            if name.endswith(".json"):
                try:
                    with open(os.path.join(self.directory, name)) as handle:
                        leases.append(json.load(handle))
                except (IOError, OSError, ValueError):
                    continue
        return leases

    def free_index(self, capacity):
        """The next free slot after the last one handed out, so a slot whose namespace the kernel
        is still destroying is not reused at once."""
        used = {lease["index"] for lease in self.all()}
        cursor_path = os.path.join(self.directory, "next")
        try:
            with open(cursor_path) as handle:
                start = int(handle.read().strip() or 0)
        except (IOError, OSError, ValueError):
            start = 0
        for step in range(capacity):
            index = (start + step) % capacity
            if index not in used:
                with open(cursor_path, "w") as handle:
                    handle.write(str((index + 1) % capacity))
                return index
        raise LarkError(
            f"all {capacity} job network slots are in use; raise max_jobs or the job subnet, or run 'lark-helper reap'")

    def save(self, lease):
        path = os.path.join(self.directory, f"{lease['index']}.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(lease, handle, sort_keys=True)
        os.rename(tmp, path)

    def slot_lock(self, index):
        """An exclusive lock on one slot, held by a setup until it is done and taken by the
        teardowns of finish and reap, so a job killed during its setup is torn down after it."""
        handle = open(os.path.join(self.directory, f"{index}.lock"), "a")
        fcntl.flock(handle, fcntl.LOCK_EX)
        return handle

    def current(self, lease):
        try:
            with open(os.path.join(self.directory, f"{lease['index']}.json")) as handle:
                return json.load(handle)
        except (IOError, OSError, ValueError):
            return None

    def remove(self, lease):
        try:
            os.unlink(os.path.join(self.directory, f"{lease['index']}.json"))
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise


def network_capacity(policy, network):
    """How many jobs a network can hold at once."""
    subnet = ipaddress.ip_network(network["subnet"])
    if network["type"] == "nat":
        room = subnet.num_addresses // 4
    else:
        room = int(subnet.broadcast_address) - int(ipaddress.ip_address(network["first_address"]))
    return min(room, policy["max_jobs"])


def addresses_for(network, index):
    """Return (host_cidr or None, job_cidr, gateway) for lease index in a network."""
    subnet = ipaddress.ip_network(network["subnet"])
    if network["type"] == "nat":
        base = subnet.network_address + 4 * index
        return f"{base + 1}/30", f"{base + 2}/30", str(base + 1)
    address = ipaddress.ip_address(network["first_address"]) + index
    if address not in subnet or address == subnet.broadcast_address or str(address) == network["gateway"]:
        raise LarkError(f"lease {index} does not fit in {subnet}; raise the subnet or lower max_jobs")
    return None, f"{address}/{subnet.prefixlen}", network["gateway"]


# --------------------------------------------------------------------------- kernel commands

def _run(argv, stdin=None, check=True):
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(stdin.encode() if stdin is not None else None)
    if check and proc.returncode != 0:
        raise LarkError(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode(errors='replace').strip()}")
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def _nft(argv, stdin, check=True):
    """Run nft; retry when the kernel aborted the transaction because another one (a job starting
    or ending at the same moment) changed the ruleset in between (EINTR)."""
    for _attempt in range(20):
        code, out, err = _run(argv, stdin, check=False)
        if code == 0 or "Interrupted system call" not in err:
            break
        time.sleep(0.001)
    if check and code != 0:
        raise LarkError(f"{' '.join(argv)} failed ({code}): {err.strip()}")
    return code, out, err


def _run_json(argv):
    return json.loads(_run(argv)[1] or "[]")


def _families(policy):
    families = []
    kinds = {net["type"] for net in policy["networks"].values()}
    if "nat" in kinds:
        families.append("inet")
    if "bridge" in kinds:
        families.append("bridge")
    return families


def slot_ifname(policy, index):
    return f"{policy['interface_prefix']}{index}"


def nft_base_script(policy):
    """The pool-wide tables, with every job slot's chains and counters made in advance.

    Creating a slot's objects once at boot (not per job) keeps a job's start free of firewall
    changes; a job's end only reads and zeroes its slot's counters (one atomic reset). Re-applying
    is idempotent and keeps running jobs' counters.
    """
    table = policy["nft_table"]
    prefix = policy["interface_prefix"]
    campus4 = [c for c in policy["accounting"]["campus_networks"] if ipaddress.ip_network(c).version == 4]
    accounting = policy["accounting"]["enabled"]
    lines = []
    for family in _families(policy):
        lines += [
            f"add table {family} {table}",
            f"add set {family} {table} campus4 {{ type ipv4_addr; flags interval; }}",
            f"flush set {family} {table} campus4",
            f"add map {family} {table} job_egress {{ type ifname : verdict; }}",
            f"add map {family} {table} job_ingress {{ type ifname : verdict; }}",
        ]
        for klass, dscp in sorted(PRIORITY_CLASSES.items()):
            if dscp != "cs0":
                lines.append(f"add set {family} {table} dscp_{klass} {{ type ifname; }}")
        if campus4:
            lines.append(f"add element {family} {table} campus4 {{ {', '.join(campus4)} }}")
        for index in range(policy["max_jobs"]):
            ifname = slot_ifname(policy, index)
            for direction in ("egress", "ingress"):
                lines += [f"add chain {family} {table} {ifname}_{direction}",
                          f"flush chain {family} {table} {ifname}_{direction}"]
            if accounting:
                lines += [f"add counter {family} {table} {counter}" for counter in _counter_names(ifname)]
                lines += [
                    f"add rule {family} {table} {ifname}_egress ip daddr @campus4 counter name {ifname}_out_campus return",
                    f"add rule {family} {table} {ifname}_egress counter name {ifname}_out_offcampus",
                    f"add rule {family} {table} {ifname}_ingress ip saddr @campus4 counter name {ifname}_in_campus return",
                    f"add rule {family} {table} {ifname}_ingress counter name {ifname}_in_offcampus",
                ]
        lines += [
            f"add chain {family} {table} forward {{ type filter hook forward priority -10; policy accept; }}",
            f"flush chain {family} {table} forward",
            f"add chain {family} {table} input {{ type filter hook input priority -10; policy accept; }}",
            f"flush chain {family} {table} input",
            f"add chain {family} {table} output {{ type filter hook output priority -10; policy accept; }}",
            f"flush chain {family} {table} output",
        ]
        for klass, dscp in sorted(PRIORITY_CLASSES.items()):
            if dscp != "cs0":
                lines.append(f"add rule {family} {table} forward iifname @dscp_{klass} ip dscp set {dscp}")
        lines += [
            f"add rule {family} {table} forward iifname vmap @job_egress",
            f"add rule {family} {table} forward oifname vmap @job_ingress",
            f"add rule {family} {table} input iifname vmap @job_egress",
            f"add rule {family} {table} output oifname vmap @job_ingress",
        ]
    if "inet" in _families(policy):
        nat_nets = [n for n in policy["networks"].values() if n["type"] == "nat"]
        lines += [
            f"add chain inet {table} postrouting {{ type nat hook postrouting priority 100; policy accept; }}",
            f"flush chain inet {table} postrouting",
            # Jobs never talk to each other through the host.
            f'add rule inet {table} forward iifname "{prefix}*" oifname "{prefix}*" drop',
        ]
        for net in nat_nets:
            lines.append(
                f'add rule inet {table} postrouting ip saddr {net["subnet"]} oifname != "{prefix}*" masquerade')
            if net["block_host"]:
                lines += [
                    f'add rule inet {table} input iifname "{prefix}*" ip saddr {net["subnet"]} '
                    "ct state established,related accept",
                    f'add rule inet {table} input iifname "{prefix}*" ip saddr {net["subnet"]} drop',
                ]
    if "bridge" in _families(policy):
        # A split-network job reaches its VLAN and nothing on the host itself.
        lines.append(f'add rule bridge {table} input iifname "{prefix}*" drop')
    return "\n".join(lines) + "\n"


def _family(lease):
    return "inet" if lease["type"] == "nat" else "bridge"


def nft_job_script(policy, lease):
    """What a job's start changes in the firewall: its slot joins the dispatch maps (and a DSCP class)."""
    family, table, ifname = _family(lease), policy["nft_table"], lease["host_ifname"]
    lines = [f'add element {family} {table} job_egress {{ "{ifname}" : jump {ifname}_egress }}',
             f'add element {family} {table} job_ingress {{ "{ifname}" : jump {ifname}_ingress }}']
    klass = lease.get("priority")
    if klass and PRIORITY_CLASSES[klass] != "cs0":
        lines.append(f'add element {family} {table} dscp_{klass} {{ "{ifname}" }}')
    return "\n".join(lines) + "\n"


def nft_job_end_commands(policy, lease):
    """One nft JSON transaction: read-and-zero the slot's counters and take the slot out of the
    dispatch maps, so that nothing arriving on a link the kernel is still destroying is counted."""
    family, table, ifname = _family(lease), policy["nft_table"], lease["host_ifname"]
    commands = []
    if lease["accounting"]:
        commands += [{"reset": {"counter": {"family": family, "table": table, "name": name}}}
                     for name in _counter_names(ifname)]
    maps = ["job_egress", "job_ingress"]
    klass = lease.get("priority")
    if klass and PRIORITY_CLASSES[klass] != "cs0":
        maps.append(f"dscp_{klass}")
    commands += [{"delete": {"element": {"family": family, "table": table, "name": name, "elem": [ifname]}}}
                 for name in maps]
    return commands


def _counter_names(ifname):
    return [f"{ifname}_{d}_{z}" for d in ("out", "in") for z in ("campus", "offcampus")]


def end_job_firewall(policy, lease):
    """Run nft_job_end_commands; return the counters' values from before the reset, by name."""
    commands = nft_job_end_commands(policy, lease)
    counters = {}
    if not commands:
        return counters
    code, out, err = _nft(["nft", "-j", "-f", "-"], json.dumps({"nftables": commands}), check=False)
    if code != 0:
        # Map entries may be gone already (a setup that failed early, a second teardown): do the
        # deletions one by one, then read the counters.
        for command in commands:
            if "delete" in command:
                _nft(["nft", "-j", "-f", "-"], json.dumps({"nftables": [command]}), check=False)
        code, out, err = _nft(["nft", "-j", "-f", "-"],
                              json.dumps({"nftables": [c for c in commands if "reset" in c]}), check=False)
    if code != 0:
        raise LarkError(f"cannot read the job's counters from nft table {policy['nft_table']}: {err.strip()}; "
                        "run 'lark-helper init' to restore Lark's firewall base")
    # nft prints one JSON document per reset command.
    for line in out.splitlines():
        if not line.strip():
            continue
        for item in json.loads(line).get("nftables", []):
            if "counter" in item:
                counters[item["counter"]["name"]] = (item["counter"]["packets"], item["counter"]["bytes"])
    return counters


def tc_script(device, rate_bits):
    rate = format_rate(rate_bits)
    # htb's default quantum (rate / r2q) is out of range for fast and slow rates alike; keep it
    # between one full frame and htb's 200000-byte ceiling.
    quantum = min(200000, max(1600, rate_bits // 8 // 10))
    return (f"qdisc add dev {device} root handle 1: htb default 10\n"
            f"class add dev {device} parent 1: classid 1:10 htb rate {rate} ceil {rate} quantum {quantum}\n")


def link_exists(ifname):
    # /proc/self/net follows this thread's network namespace (after enter_netns), /sys does not.
    return ifname in interfaces_of("self")


def enter_netns(pid):
    """Move this process into the network namespace of pid (the starter's, i.e. the host's)."""
    handle = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        _setns(handle)
    finally:
        os.close(handle)


# --------------------------------------------------------------------------- job lifecycle

# rtnetlink, spoken directly: a job's veth pair, addresses and routes cost a few syscalls instead of
# several ip(8) processes, which is most of Lark's per-job latency (see benchmarks/).
# Constants from linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/veth.h.
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_EXCL, _NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
_NLMSG_ERROR = 2
_RTM_NEWLINK, _RTM_DELLINK, _RTM_NEWADDR, _RTM_NEWROUTE = 16, 17, 20, 24
_IFLA_IFNAME, _IFLA_MTU, _IFLA_MASTER, _IFLA_LINKINFO, _IFLA_NET_NS_FD = 3, 4, 10, 18, 28
_IFLA_INFO_KIND, _IFLA_INFO_DATA, _VETH_INFO_PEER = 1, 2, 1
_IFA_ADDRESS, _IFA_LOCAL = 1, 2
_RTA_GATEWAY = 5
_IFF_UP = 0x1
_CLONE_NEWNET = 0x40000000


def _rtattr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _ifinfo(index=0, flags=0, change=0):
    return struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, flags, change)


class Netlink:
    """A NETLINK_ROUTE socket in the network namespace that was current when it was opened."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # 0: NETLINK_ROUTE
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self):
        self.sock.close()

    def request(self, kind, flags, body, what):
        self.seq += 1
        header = struct.pack("=IHHII", 16 + len(body), kind, _NLM_F_REQUEST | _NLM_F_ACK | flags, self.seq, 0)
        self.sock.send(header + body)
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, msg_type, _flags, seq, _pid = struct.unpack_from("=IHHII", data, offset)
                if msg_type == _NLMSG_ERROR and seq == self.seq:
                    error = -struct.unpack_from("=i", data, offset + 16)[0]
                    if error:
                        raise LarkError(f"{what}: {os.strerror(error)}")
                    return
                offset += max(length, 16)

    def add_veth(self, name, peer, peer_netns_fd, mtu):
        peer_info = _ifinfo() + _rtattr(_IFLA_IFNAME, peer.encode() + b"\0") + \
            _rtattr(_IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd)) + _rtattr(_IFLA_MTU, struct.pack("=I", mtu))
        linkinfo = _rtattr(_IFLA_INFO_KIND, b"veth\0") + _rtattr(_IFLA_INFO_DATA, _rtattr(_VETH_INFO_PEER, peer_info))
        body = _ifinfo() + _rtattr(_IFLA_IFNAME, name.encode() + b"\0") + \
            _rtattr(_IFLA_MTU, struct.pack("=I", mtu)) + _rtattr(_IFLA_LINKINFO, linkinfo)
        self.request(_RTM_NEWLINK, _NLM_F_CREATE | _NLM_F_EXCL, body, f"creating veth {name}")

    def set_link(self, name, up=None, master=None):
        attrs = b""
        if master is not None:
            attrs += _rtattr(_IFLA_MASTER, struct.pack("=I", socket.if_nametoindex(master)))
        flags = _IFF_UP if up else 0
        body = _ifinfo(socket.if_nametoindex(name), flags, _IFF_UP if up is not None else 0) + attrs
        self.request(_RTM_NEWLINK, 0, body, f"configuring link {name}")

    def delete_link(self, name):
        self.request(_RTM_DELLINK, 0, _ifinfo(socket.if_nametoindex(name)), f"deleting link {name}")

    def add_address(self, name, cidr):
        iface = ipaddress.ip_interface(cidr)
        body = struct.pack("=BBBBI", socket.AF_INET, iface.network.prefixlen, 0, 0, socket.if_nametoindex(name))
        body += _rtattr(_IFA_LOCAL, iface.ip.packed) + _rtattr(_IFA_ADDRESS, iface.ip.packed)
        self.request(_RTM_NEWADDR, _NLM_F_CREATE | _NLM_F_EXCL, body, f"adding {cidr} to {name}")

    def add_default_route(self, gateway):
        # family, dst_len, src_len, tos, table main, protocol boot, scope universe, type unicast, flags
        body = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 254, 3, 0, 1, 0)
        body += _rtattr(_RTA_GATEWAY, ipaddress.ip_address(gateway).packed)
        self.request(_RTM_NEWROUTE, _NLM_F_CREATE | _NLM_F_EXCL, body, f"adding the default route via {gateway}")


def _setns(handle):
    import ctypes
    import ctypes.util
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.setns(handle, _CLONE_NEWNET) != 0:
        raise LarkError(f"cannot enter a network namespace: {os.strerror(ctypes.get_errno())}")


def _no_ipv6_autoconf(ifname):
    # Job addressing is IPv4; without IPv6 link-local addresses the pair sends no ND/MLD chatter
    # that would be counted as the job's traffic. (/proc/sys/net follows this thread's namespace.)
    try:
        with open(f"/proc/sys/net/ipv6/conf/{ifname}/addr_gen_mode", "w") as handle:
            handle.write("1")
    except (IOError, OSError):
        pass  # IPv6 disabled on this host


def setup_job(policy, plan, netns, starter_pid=None, uid=None, job_pid=None, netns_name=None):
    """Give the job namespace ``netns`` (a PID or a name under /run/netns) its veth, addresses, limits.

    On any failure everything created so far is removed again.
    """
    network = policy["networks"][plan["network"]]
    with LeaseStore(policy) as store:
        index = store.free_index(network_capacity(policy, network))
        host_cidr, job_cidr, gateway = addresses_for(network, index)
        lease = {
            "index": index, "host_ifname": slot_ifname(policy, index), "network": plan["network"],
            "type": network["type"], "job_address": job_cidr.split("/", maxsplit=1)[0], "host_address": host_cidr,
            "gateway": gateway, "rate_bits": plan["rate_bits"], "priority": plan["priority"],
            "accounting": plan["accounting"], "starter_pid": starter_pid, "job_pid": job_pid, "uid": uid,
            "started": time.time(), "netns": str(netns), "netns_name": netns_name,
        }
        store.save(lease)
        slot_lock = store.slot_lock(index)
    try:
        return _setup_slot(policy, plan, netns, network, lease, host_cidr, job_cidr, gateway)
    finally:
        slot_lock.close()


def _setup_slot(policy, plan, netns, network, lease, host_cidr, job_cidr, gateway):
    ns_path = f"/proc/{netns}/ns/net" if str(netns).isdigit() else f"/run/netns/{netns}"
    ifname = lease["host_ifname"]
    host_ns = job_ns = None
    try:
        host_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            job_ns = os.open(ns_path, os.O_RDONLY)
        except (IOError, OSError) as exc:
            raise LarkError(f"the job's network namespace {ns_path} is gone ({exc})")
        host = Netlink()
        try:
            if link_exists(ifname):
                # A leftover from a crash that the reaper has not seen yet.
                host.delete_link(ifname)
            host.add_veth(ifname, _JOB_IFNAME, job_ns, policy["mtu"])
            _no_ipv6_autoconf(ifname)
            if network["type"] == "nat":
                host.add_address(ifname, host_cidr)
                host.set_link(ifname, up=True)
            else:
                host.set_link(ifname, up=True, master=network["bridge"])
        finally:
            host.close()
        _setns(job_ns)
        try:
            inside = Netlink()
            try:
                _no_ipv6_autoconf(_JOB_IFNAME)
                inside.add_address(_JOB_IFNAME, job_cidr)
                inside.set_link(_JOB_IFNAME, up=True)
                inside.set_link("lo", up=True)
                inside.add_default_route(gateway)
            finally:
                inside.close()
        finally:
            _setns(host_ns)
        if plan["rate_bits"]:
            _run(["tc", "-batch", "-"], tc_script(ifname, plan["rate_bits"]))
            _run(["nsenter", f"--net={ns_path}", "tc", "-batch", "-"], tc_script(_JOB_IFNAME, plan["rate_bits"]))
        script = nft_job_script(policy, lease)
        if script:
            _nft(["nft", "-f", "-"], script)
    except (LarkError, socket.error) as exc:
        teardown_job(policy, lease, "setup-failed")
        if isinstance(exc, LarkError):
            raise
        raise LarkError(f"setting up the job network failed: {exc}")
    finally:
        for handle in (job_ns, host_ns):
            if handle is not None:
                os.close(handle)
    return lease


def finish_lease(policy, lease, reason, only_if=None):
    """Tear a lease down once no setup holds its slot; None when someone else already did, or
    when ``only_if`` (checked under the slot lock) says the job still needs it."""
    store = LeaseStore(policy)
    with store:
        pass  # makes the directory
    slot_lock = store.slot_lock(lease["index"])
    try:
        current = store.current(lease)
        if not current or current.get("started") != lease.get("started"):
            return None
        if only_if is not None and not only_if(current):
            return None
        return teardown_job(policy, current, reason)
    finally:
        slot_lock.close()


def teardown_job(policy, lease, reason):
    """Remove one job's link, firewall objects and lease; return its accounting record."""
    ifname = lease["host_ifname"]
    # After a normal exit the starter has ended every job process and the kernel is destroying the
    # namespace and the pair with it (asynchronously); the slot leaves the dispatch maps in the same
    # transaction that reads its counters. Otherwise (failed setup, dead starter) the job may still
    # run: cut it off.
    if link_exists(ifname):
        netlink = Netlink()
        try:
            netlink.delete_link(ifname)
        except (LarkError, OSError):
            pass  # already gone
        finally:
            netlink.close()
    counters = end_job_firewall(policy, lease)
    if lease.get("netns_name"):
        # The namespace Lark made for the job (HTCondor before 24.7, or a job that kept the host's).
        _run(["ip", "netns", "delete", lease["netns_name"]], check=False)
    record = accounting_record(lease, counters, reason)
    if lease["accounting"]:
        write_record(policy, record)
    with LeaseStore(policy) as store:
        store.remove(lease)
    return record


def accounting_record(lease, counters, reason):
    ifname = lease["host_ifname"]

    def value(direction, zone, part):
        return counters.get(f"{ifname}_{direction}_{zone}", (0, 0))[part]

    record = {
        "network": lease["network"], "network_type": lease["type"], "job_address": lease["job_address"],
        "starter_pid": lease.get("starter_pid"), "uid": lease.get("uid"), "started": lease["started"],
        "ended": time.time(), "end_reason": reason, "rate_bits": lease.get("rate_bits"),
        "priority": lease.get("priority"), "accounted": bool(lease["accounting"]),
    }
    for direction, word in (("out", "Out"), ("in", "In")):
        for zone, zword in (("campus", "OnCampus"), ("offcampus", "OffCampus")):
            record[f"Bytes{word}{zword}"] = value(direction, zone, 1)
            record[f"Packets{word}{zword}"] = value(direction, zone, 0)
        record[f"Bytes{word}"] = record[f"Bytes{word}OnCampus"] + record[f"Bytes{word}OffCampus"]
        record[f"Packets{word}"] = record[f"Packets{word}OnCampus"] + record[f"Packets{word}OffCampus"]
    return record


def record_classad(record):
    """The record as ClassAd attribute lines (Lark*), for the job ad."""
    lines = [f'LarkJobNetwork = "{record["network"]}"', f'LarkJobNetworkType = "{record["network_type"]}"',
             f'LarkJobAddress = "{record["job_address"]}"']
    for key in sorted(record):
        if key.startswith(("Bytes", "Packets")):
            lines.append(f"LarkNetwork{key} = {int(record[key])}")
    return "\n".join(lines) + "\n"


def write_record(policy, record):
    directory = policy["record_dir"]
    os.makedirs(directory, 0o750, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(record["ended"]))
    path = os.path.join(directory, f"{stamp}-{record['starter_pid']}-{record['job_address']}.json")
    with open(path, "w") as handle:
        json.dump(record, handle, sort_keys=True)
    record["path"] = path
    return path


def _alive(pid):
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def reap(policy):
    """Tear down every lease whose job network or starter is gone; return the records."""
    with LeaseStore(policy) as store:
        leases = store.all()
    records = []

    def abandoned(lease):
        starter_gone = lease.get("starter_pid") and not _alive(lease["starter_pid"])
        return starter_gone or not link_exists(lease["host_ifname"])

    for lease in leases:
        record = finish_lease(policy, lease, "reaped", only_if=abandoned)
        if record:
            records.append(record)
    directory = _finished_dir(policy)
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            if not _alive(name.split("-", 1)[0]):
                os.unlink(os.path.join(directory, name))
    # A slot link without a lease outlived its job (a job process the starter did not end).
    # Under the lease lock: a new job saves its lease before it creates its link.
    slots = {slot_ifname(policy, index) for index in range(policy["max_jobs"])}
    with LeaseStore(policy) as store:
        leased = {lease["host_ifname"] for lease in store.all()}
        for ifname in interfaces_of("self"):
            if ifname in slots and ifname not in leased:
                _run(["ip", "link", "del", ifname], check=False)
    return records


def init_host(policy):
    """Install the pool-wide nft table and, for split networks, their bridges and VLAN uplinks."""
    for net in policy["networks"].values():
        if net["type"] != "bridge":
            continue
        if not link_exists(net["bridge"]):
            _run(["ip", "link", "add", net["bridge"], "type", "bridge"])
        uplink = net.get("parent")
        if uplink and net.get("vlan"):
            # Tagged: the bridge carries the VLAN through a sub-interface of the uplink.
            uplink = f"{net['parent']}.{net['vlan']}"[:15]
            if not link_exists(uplink):
                _run(["ip", "link", "add", "link", net["parent"], "name", uplink, "type", "vlan", "id", str(net["vlan"])])
        if uplink:
            # Untagged (access port) when no VLAN id is given.
            _run(["ip", "link", "set", uplink, "master", net["bridge"], "up"])
        _run(["ip", "link", "set", net["bridge"], "up"])
    _nft(["nft", "-f", "-"], nft_base_script(policy))



# --------------------------------------------------------------------------- readiness

def _not_ready_path(policy):
    return os.path.join(policy["state_dir"], "not-ready.json")


def mark_not_ready(policy, reason):
    """Take the node out of matching (the startd's LarkReady) until the reaper finds Lark whole again."""
    os.makedirs(policy["state_dir"], 0o755, exist_ok=True)
    path = _not_ready_path(policy)
    with open(path + ".tmp", "w") as handle:
        json.dump({"reason": reason, "since": time.time()}, handle)
    os.chmod(path + ".tmp", 0o644)
    os.replace(path + ".tmp", path)


def clear_not_ready(policy):
    try:
        os.unlink(_not_ready_path(policy))
    except (IOError, OSError) as exc:
        if exc.errno != errno.ENOENT:
            raise


def readiness(policy):
    """(ready, reason): what the node's STARTD_CRON publishes as LarkReady and LarkNotReadyReason."""
    try:
        with open(_not_ready_path(policy)) as handle:
            data = json.load(handle)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return True, ""
        return False, f"cannot read Lark's readiness marker: {exc}"
    except ValueError:
        return False, "Lark's readiness marker is unreadable"
    return False, str(data.get("reason", "Lark could not set up a job network"))


def readiness_classad(policy):
    ready, reason = readiness(policy)
    lines = [f"LarkReady = {'true' if ready else 'false'}"]
    lines.append("LarkNotReadyReason = " + _classad_string(reason) if not ready else 'LarkNotReadyReason = ""')
    return "\n".join(lines) + "\n"


def _classad_string(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def base_is_whole(policy):
    """The pool-wide firewall table and every split network's bridge are in place."""
    for family in _families(policy):
        code, _out, _err = _run(["nft", "list", "table", family, policy["nft_table"]], check=False)
        if code != 0:
            return False
    return all(link_exists(net["bridge"]) for net in policy["networks"].values() if net["type"] == "bridge")


# --------------------------------------------------------------------------- running a job

class _JobContext:
    """What the job was when its wrapper called sudo: its user, groups, environment, directory, umask."""

    def __init__(self, pid, uid, gid):
        self.pid = pid
        self.uid = uid
        self.gid = gid
        with open(f"/proc/{pid}/environ", "rb") as handle:
            raw = handle.read()
        self.env = dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        self.cwd = os.readlink(f"/proc/{pid}/cwd")
        self.umask = 0o022
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    self.umask = int(line.split()[1], 8)
        try:
            self.user = pwd.getpwuid(uid).pw_name
        except KeyError:
            self.user = None

    def getenv(self, name):
        value = self.env.get(name.encode())
        return value.decode("utf-8", "replace") if value is not None else None

    def become(self, ns_path=None):
        """In a forked child: enter the job's namespace, then drop to the job's own uid and gid for good."""
        if ns_path:
            handle = os.open(ns_path, os.O_RDONLY)
            try:
                _setns(handle)
            finally:
                os.close(handle)
        if self.user:
            os.initgroups(self.user, self.gid)
        else:
            os.setgroups([self.gid])
        os.setgid(self.gid)
        os.setuid(self.uid)
        os.umask(self.umask)
        try:
            os.chdir(self.cwd)
        except OSError:
            os.chdir("/")

    def spawn_as_job_user(self, action):
        """Fork a child that drops to the job's user and runs action(); return its pid.

        Everything the job controls (its ad file, its chirp configuration, the wrapper's error
        file) is touched only there, never as root."""
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self.become()
                code = action() or 0
            except BaseException:  # a child must never return into the helper's code
                code = 1
            finally:
                os._exit(code)
        return pid

    def as_job_user(self, action):
        """Run action() as the job's user (spawn_as_job_user) and return its exit status."""
        _pid, status = os.waitpid(self.spawn_as_job_user(action), 0)
        return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def _read_as_user(context, path):
    read_end, write_end = os.pipe()

    def read():
        os.close(read_end)
        with open(path, "rb") as handle:
            os.write(write_end, handle.read(1 << 20))
        return 0

    pid = context.spawn_as_job_user(read)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", "replace")


def chirp_set_attrs(config_path, attrs, timeout=10):
    """Set job ad attributes through the starter's chirp proxy (the job has WantIOProxy = true).

    The protocol of condor_chirp: a line "host port cookie" in the job's .chirp.config, then
    "cookie <cookie>" and one "set_job_attr <name> <expression>" per attribute, each answered
    with a status line (0 is success)."""
    with open(config_path) as handle:
        host, port, cookie = handle.read().split()[:3]
    conn = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        reader = conn.makefile("r")

        def command(text):
            conn.sendall(text.encode() + b"\n")
            answer = reader.readline().strip()
            try:
                code = int(answer)
            except ValueError:
                raise LarkError(f"chirp answered {answer!r} to {text.split()[0]}")
            if code < 0:
                raise LarkError(f"chirp refused {text.split()[0]} ({code})")

        command(f"cookie {cookie}")
        for name, value in attrs:
            command(f"set_job_attr {name} {value.replace(' ', chr(92) + ' ')}")
    finally:
        conn.close()


def _finished_dir(policy):
    return os.path.join(policy["state_dir"], "finished")


def _keep_finished(policy, lease, record):
    """Keep the record of a job run() finished until its job-exit hook (if any) asks for it; the reaper
    drops it once the starter is gone."""
    directory = _finished_dir(policy)
    os.makedirs(directory, 0o700, exist_ok=True)
    path = os.path.join(directory, f"{lease['starter_pid']}-{lease['uid']}.json")
    with open(path, "w") as handle:
        json.dump(record, handle, sort_keys=True)


def take_finished(policy, starter_pid, uid):
    """The records run() kept for this starter and uid, removed as they are read."""
    path = os.path.join(_finished_dir(policy), f"{starter_pid}-{uid}.json")
    try:
        with open(path) as handle:
            record = json.load(handle)
    except (IOError, OSError, ValueError):
        return []
    os.unlink(path)
    return [record]


def _hold(context, message):
    """Tell the starter to hold the job with this reason (USER_JOB_WRAPPER's error file)."""
    sys.stderr.write(f"Lark: {message}\n")
    path = context.getenv("_CONDOR_WRAPPER_ERROR_FILE") if context else None
    if not path:
        return

    def write():
        with open(path, "w") as handle:
            handle.write(f"Lark: {message}\n")
        return 0

    context.as_job_user(write)


_FORWARDED_SIGNALS = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGCONT", "SIGTSTP")
_PR_SET_PDEATHSIG = 1


def _die_with_parent(signum):
    """Have the kernel send signum to this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux/glibc: the starter's own process tracking still ends the job


class _Abort:
    """Signals that arrive before the job runs (the starter killing the job, or sudo dying) abort it."""

    def __init__(self):
        self.signum = None

    def __call__(self, signum, _frame):
        self.signum = signum


def run_job(policy, command):
    """``lark-helper run -- COMMAND...``: the whole life of one job's network, as USER_JOB_WRAPPER.

    Through sudo, from the job's wrapper. Checks that the caller is an HTCondor job, plans its
    network from the pool policy and the job ad, gives the job a namespace (the fresh one the
    starter made with NO_JOB_NETWORKING, or one of its own on HTCondor before 24.7), runs the job
    in it as the job's own user, forwards the starter's signals, and when the job has ended tears
    the network down, writes the accounting record and puts the figures into the job ad (chirp).
    Returns the job's exit status; a job killed by a signal is re-signalled to this process."""
    if not command:
        raise LarkDenied("usage: lark-helper run -- COMMAND [ARGS...]")
    uid = _caller_uid()
    gid_text = os.environ.get("SUDO_GID", "")
    sudo_pid = os.getppid()
    context = None
    lease = None
    abort = _Abort()
    for name in _FORWARDED_SIGNALS:
        if name not in ("SIGCONT", "SIGTSTP"):
            signal.signal(getattr(signal, name), abort)
    _die_with_parent(signal.SIGTERM)
    try:
        comm, _ppid, _real_uid = proc_status(sudo_pid)
        if comm != "sudo":
            raise LarkDenied("lark-helper run must be started by sudo from the job's wrapper")
        context = _JobContext(sudo_pid, uid, int(gid_text) if gid_text.isdigit() else uid)
        starter_pid = check_job_caller(policy, sudo_pid, uid)
        ad_path = context.getenv("_CONDOR_JOB_AD")
        plan = plan_job(policy, parse_job_ad(_read_as_user(context, ad_path) if ad_path else ""))
        fresh = netns_id(sudo_pid) != netns_id(starter_pid) and \
            [n for n in interfaces_of(sudo_pid) if n != "lo"] == []
        enter_netns(starter_pid)
        ns_name = None
        if fresh:
            netns = sudo_pid
            ns_path = f"/proc/{sudo_pid}/ns/net"
        else:
            ns_name = f"lark-{os.getpid()}"
            _run(["ip", "netns", "add", ns_name])
            netns = ns_name
            ns_path = f"/run/netns/{ns_name}"
        try:
            lease = setup_job(policy, plan, netns, starter_pid=starter_pid, uid=uid, job_pid=sudo_pid,
                              netns_name=ns_name)
        except LarkError:
            if ns_name:
                _run(["ip", "netns", "delete", ns_name], check=False)
            raise
    except LarkPolicyError as exc:
        _hold(context, str(exc))
        return 1
    except LarkDenied as exc:
        _hold(context, str(exc))
        return 1
    except (LarkError, IOError, OSError) as exc:
        if abort.signum is not None or not os.path.exists(f"/proc/{sudo_pid}/ns/net"):
            # The job was killed while its network was being built (its namespace went with it):
            # nothing is wrong with the node, and there is no job left to hold.
            return 128 + (abort.signum or signal.SIGKILL)
        message = f"could not set up the job network: {exc}"
        mark_not_ready(policy, message)
        if policy["required"] or context is None:
            _hold(context, message)
            return 1
        sys.stderr.write(f"Lark: running without a job network: {exc}\n")
        ns_path = None
    if abort.signum is not None:
        # The job was ended while its network was being built: it never runs.
        if lease is not None:
            finish_lease(policy, lease, "job-exit")
        return 128 + abort.signum
    return _run_and_finish(policy, context, lease, ns_path if lease else None, command, abort)


def _run_and_finish(policy, context, lease, ns_path, command, abort=None):
    child = os.fork()
    if child == 0:
        try:
            for name in _FORWARDED_SIGNALS:
                signal.signal(getattr(signal, name), signal.SIG_DFL)
            try:
                context.become(ns_path)
            except (IOError, OSError) as exc:
                if exc.errno == errno.ENOENT:
                    os._exit(128 + signal.SIGKILL)  # the job's namespace is gone: the job was killed
                raise
            _die_with_parent(signal.SIGKILL)
            os.execvpe(command[0], command, context.env)
        except BaseException as exc:  # exec failed: report like a shell would
            try:
                os.write(2, f"lark-helper: cannot run {command[0]}: {exc}\n".encode())
            finally:
                os._exit(127)

    def forward(signum, _frame):
        try:
            os.kill(child, signum)
        except OSError:
            pass

    for name in _FORWARDED_SIGNALS:
        signal.signal(getattr(signal, name), forward)
    if abort is not None and abort.signum is not None:
        forward(abort.signum, None)
    while True:
        try:
            _pid, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    for name in _FORWARDED_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    if lease is not None:
        record = None
        try:
            record = finish_lease(policy, lease, "job-exit")
        except (LarkError, IOError, OSError) as exc:
            sys.stderr.write(f"Lark: tearing down the job network failed ({exc}); the reaper will retry\n")
        if record:
            _keep_finished(policy, lease, record)
        chirp = context.getenv("_CONDOR_CHIRP_CONFIG")
        if record and chirp:
            attrs = [line.split(" = ", 1) for line in record_classad(record).splitlines()]
            context.as_job_user(lambda: chirp_set_attrs(chirp, attrs))
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        return 128 + sig
    return os.WEXITSTATUS(status)

# --------------------------------------------------------------------------- helper entry point

def _caller_uid():
    if os.getuid() != 0:
        raise LarkDenied("lark-helper must run as root, through its sudo rule")
    value = os.environ.get("SUDO_UID")
    if value is None or not value.isdigit():
        raise LarkDenied("lark-helper setup/finish must be called through sudo by the job's user")
    return int(value)


def helper_main(policy_path=DEFAULT_POLICY_PATH, argv=None, stdin=None, stdout=None):
    """Command line of lark-helper: setup | finish (through sudo, from a job) | init | reap | show (root).

    The policy path is fixed by the installed entry script, never taken from the caller.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if argv[:2] == ["run", "--"] and len(argv) > 2:
        try:
            return run_job(load_policy(policy_path), argv[2:])
        except LarkError as exc:
            sys.stderr.write(f"lark-helper run: {exc}\n")
            return 1
    if len(argv) != 1 or argv[0] not in ("setup", "finish", "init", "reap", "show", "status", "prepare"):
        sys.stderr.write("usage: lark-helper run -- COMMAND...|prepare|setup|finish|init|reap|show|status\n")
        return 2
    command = argv[0]
    try:
        policy = load_policy(policy_path)
        if command == "prepare":
            # HTCondor's <keyword>_HOOK_PREPARE_JOB, as the job's user, before the job starts: a job that
            # asks for what this node does not allow is held (HookStatusCode 1-299) with the reason.
            ready, reason = readiness(policy)
            try:
                plan_job(policy, parse_job_ad(stdin.read()))
                if not ready:
                    raise LarkError(f"Lark is not ready on this node: {reason}")
            except LarkError as exc:
                stdout.write(f"HookStatusCode = 190\nHookStatusMessage = {_classad_string('Lark: ' + str(exc))}\n")
            return 0
        if command == "status":
            # For the startd's cron (any user): whether this node can give jobs their network.
            stdout.write(readiness_classad(policy))
            return 0
        if command in ("init", "reap", "show"):
            if os.getuid() != 0 or "SUDO_UID" in os.environ:
                raise LarkDenied(f"'lark-helper {command}' is for root on the execute node, not for jobs")
            if command == "init":
                init_host(policy)
                clear_not_ready(policy)
            elif command == "reap":
                # Health first: a firewall base or bridge that went missing takes the node out of
                # matching, is rebuilt, and the node comes back once it is whole (also after a failed setup).
                if not base_is_whole(policy):
                    mark_not_ready(policy, "Lark's firewall base or a split-network bridge was missing")
                if not readiness(policy)[0]:
                    init_host(policy)
                for record in reap(policy):
                    stdout.write(json.dumps(record, sort_keys=True) + "\n")
                if not readiness(policy)[0] and base_is_whole(policy):
                    clear_not_ready(policy)
            else:
                with LeaseStore(policy) as store:
                    stdout.write(json.dumps(store.all(), indent=2, sort_keys=True) + "\n")
            return 0
        uid = _caller_uid()
        caller = find_caller(os.getppid())
        if command == "setup":
            starter_pid, _ns = verify_job(policy, caller, uid)
            # sudo started us inside the job's namespace; the host side is the starter's.
            enter_netns(starter_pid)
            plan = plan_job(policy, parse_job_ad(stdin.read()))
            with LeaseStore(policy) as store:
                if any(lease.get("starter_pid") == starter_pid for lease in store.all()):
                    raise LarkDenied(f"the job of starter {starter_pid} already has its Lark network")
            lease = setup_job(policy, plan, caller, starter_pid=starter_pid, uid=uid, job_pid=caller)
            stdout.write(f"lark: {lease['network']} ({lease['type']}) address {lease['job_address']}\n")
            return 0
        # finish: only the lease that belongs to the caller's own starter and uid.
        starter_pid, _starter_uid = find_starter(caller, policy["starter_names"])
        if starter_pid is None:
            raise LarkDenied("lark-helper finish only serves HTCondor job-exit hooks (no starter above the caller)")
        enter_netns(starter_pid)
        with LeaseStore(policy) as store:
            mine = [lease for lease in store.all()
                    if lease.get("starter_pid") == starter_pid and lease.get("uid") == uid]
        for lease in mine:
            record = finish_lease(policy, lease, "job-exit")
            if record:
                stdout.write(record_classad(record))
        for record in take_finished(policy, starter_pid, uid):
            stdout.write(record_classad(record))
        return 0
    except LarkError as exc:
        sys.stderr.write(f"lark-helper {command}: {exc}\n")
        return 3 if isinstance(exc, LarkDenied) else 1
    except (IOError, OSError) as exc:
        # Typically /proc of a process that is gone, or a root without CAP_SYS_PTRACE (a container).
        sys.stderr.write(f"lark-helper {command}: {exc}; the helper needs full root on the execute node "
                         "(CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_SYS_PTRACE)\n")
        return 1
