# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Day-2 filters: the order a rolling upgrade takes through a quorum, decided from live status output."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: bsaas_leader_last
short_description: Order the members of an etcd cluster or a ZooKeeper ensemble followers first, leader last
description:
  - Input is a mapping of inventory host to what that member itself reported, in the order the hosts should
    otherwise go. For C(etcd) that is the output of C(etcdctl endpoint status -w json) against the member's own
    client URL (the member is the leader when its C(header.member_id) equals the C(leader) it reports); for
    C(zookeeper) the answer to the four-letter word C(srvr) (its C(Mode:) line).
  - Fails, naming the host, when a member gave no usable answer, when no member or more than one member
    says it leads, so that an upgrade never starts on a guess.
  - C(bsaas_member_role) returns one member's role (C(leader), C(follower), ...) from the same outputs.
options:
  kind:
    description: C(etcd) or C(zookeeper).
    type: str
    required: true
"""

import json

from ansible.errors import AnsibleFilterError

ZOOKEEPER_SERVING = ("leader", "follower", "observer", "standalone")


def _zookeeper_role(output):
    for line in (output or "").splitlines():
        if line.startswith("Mode:"):
            mode = line.split(":", 1)[1].strip()
            if mode in ZOOKEEPER_SERVING:
                return "leader" if mode == "standalone" else mode
    return None


def _etcd_role(output):
    try:
        data = json.loads(output or "")
    except ValueError:
        return None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
        return None
    status = data[0].get("Status") or {}
    member = (status.get("header") or {}).get("member_id")
    leader = status.get("leader")
    if member is None or leader is None:
        return None
    return "leader" if int(member) == int(leader) else "follower"


def bsaas_member_role(output, kind):
    """'leader', 'follower' (or 'observer' for ZooKeeper), or None when the output says nothing usable."""
    if kind == "etcd":
        return _etcd_role(output)
    if kind == "zookeeper":
        return _zookeeper_role(output)
    raise AnsibleFilterError("bsaas_member_role: kind must be etcd or zookeeper, not %r" % (kind,))


def bsaas_leader_last(outputs, kind):
    """Hosts of ``outputs`` (host -> status output, in order) with the single leader moved to the end."""
    if not isinstance(outputs, dict) or not outputs:
        raise AnsibleFilterError("bsaas_leader_last: give a non-empty mapping of host to status output")
    what = {"etcd": "etcdctl endpoint status -w json", "zookeeper": "the four-letter word srvr"}.get(kind)
    if what is None:
        raise AnsibleFilterError("bsaas_leader_last: kind must be etcd or zookeeper, not %r" % (kind,))
    roles = [(host, bsaas_member_role(output, kind)) for host, output in outputs.items()]
    silent = [host for host, role in roles if role is None]
    if silent:
        raise AnsibleFilterError(
            "%s upgrade: no usable answer to %s from %s; bring the member back (or leave it out of the "
            "inventory group) before a rolling upgrade, which must know the leader to move leadership once"
            % (kind, what, ", ".join(silent)))
    leaders = [host for host, role in roles if role == "leader"]
    if len(leaders) != 1:
        raise AnsibleFilterError(
            "%s upgrade: %s say they lead (%s); a healthy %s has exactly one leader. Check the cluster's health "
            "and run the upgrade again" % (kind, len(leaders), ", ".join(leaders) or "none",
                                            "cluster" if kind == "etcd" else "ensemble"))
    return [host for host, role in roles if role != "leader"] + leaders


class FilterModule(object):
    def filters(self):
        return {
            "bsaas_leader_last": bsaas_leader_last,
            "bsaas_member_role": bsaas_member_role,
        }
