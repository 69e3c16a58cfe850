# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the etcd and zookeeper inventory groups into cluster membership data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: controlplane_etcd_members
short_description: etcd cluster members (name, address, peer and client URLs) from an inventory group
description:
  - Other filters in this file are C(controlplane_etcd_initial_cluster), C(controlplane_zookeeper_ensemble)
    and C(controlplane_cidr_problem).
options: {}
"""

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # netaddr is only needed by controlplane_cidr_problem
    HAS_NETADDR = False

from ansible.errors import AnsibleFilterError


def _host_address(host, hostvars, address_var):
    """Address a member listens on: the role variable if set, else the default IPv4 fact, else ansible_host (what
    the controller knows before facts, e.g. when preflight hands Calico the etcd endpoints), else the name."""
    facts = hostvars.get(host, {}) or {}
    address = facts.get(address_var)
    if address:
        return str(address)
    default_ipv4 = facts.get("ansible_default_ipv4") or {}
    if default_ipv4.get("address"):
        return str(default_ipv4["address"])
    if facts.get("ansible_host"):
        return str(facts["ansible_host"])
    return str(host)


def _url_host(address):
    # IPv6 literals must be bracketed inside URLs.
    return "[%s]" % address if ":" in address else address


def etcd_members(hosts, hostvars, address_var="etcd_address", name_var="etcd_member_name",
                 scheme="https", peer_port=2380, client_port=2379, allowed_sizes=(3, 5)):
    """List of member dicts for the hosts of the etcd group, in inventory order.

    Raises when the group size is not one of allowed_sizes (an even number of members
    gives no extra fault tolerance and a two-way split loses quorum) or names collide.
    """
    hosts = list(hosts or [])
    allowed = [int(size) for size in (allowed_sizes or [])]
    if allowed and len(hosts) not in allowed:
        raise AnsibleFilterError(
            "the etcd group has %d member(s) (%s); put %s hosts in the inventory group 'etcd' "
            "(an odd number, so a minority can fail without losing quorum)"
            % (len(hosts), ", ".join(hosts) or "none", " or ".join(str(s) for s in allowed)))
    if scheme not in ("http", "https"):
        raise AnsibleFilterError("scheme must be http or https, not %r" % (scheme,))
    members = []
    seen_names = {}
    for host in hosts:
        facts = hostvars.get(host, {}) or {}
        name = str(facts.get(name_var) or host)
        if name in seen_names:
            raise AnsibleFilterError(
                "etcd member name %r is used by both %s and %s; give each host a unique %s"
                % (name, seen_names[name], host, name_var))
        seen_names[name] = host
        address = _host_address(host, hostvars, address_var)
        members.append({
            "host": host,
            "name": name,
            "address": address,
            "peer_url": "%s://%s:%d" % (scheme, _url_host(address), int(peer_port)),
            "client_url": "%s://%s:%d" % (scheme, _url_host(address), int(client_port)),
        })
    return members


def etcd_initial_cluster(members):
    """The --initial-cluster value: name=peer_url pairs joined by commas."""
    return ",".join("%s=%s" % (member["name"], member["peer_url"]) for member in members)


def zookeeper_ensemble(hosts, hostvars, id_var="zookeeper_id", address_var="zookeeper_address",
                       peer_port=2888, election_port=3888, client_port=2181):
    """List of ensemble members with their myid and zoo.cfg server line, in myid order.

    Hosts without an explicit id get their 1-based position in the group, so an
    inventory that never sets zookeeper_id still gives each host a stable, unique myid.
    """
    hosts = list(hosts or [])
    if not hosts:
        raise AnsibleFilterError("the inventory group 'zookeeper' is empty; put 1, 3 or 5 hosts in it")
    servers = []
    seen_ids = {}
    for position, host in enumerate(hosts, start=1):
        facts = hostvars.get(host, {}) or {}
        raw_id = facts.get(id_var)
        try:
            myid = int(raw_id) if raw_id not in (None, "") else position
        except (TypeError, ValueError):
            raise AnsibleFilterError("%s=%r on %s is not an integer; set it to a number from 1 to 255"
                                     % (id_var, raw_id, host))
        if not 1 <= myid <= 255:
            raise AnsibleFilterError("%s=%d on %s is out of range; ZooKeeper ids must be 1 to 255"
                                     % (id_var, myid, host))
        if myid in seen_ids:
            raise AnsibleFilterError("%s=%d is used by both %s and %s; give each host a unique %s"
                                     % (id_var, myid, seen_ids[myid], host, id_var))
        seen_ids[myid] = host
        address = _host_address(host, hostvars, address_var)
        servers.append({
            "host": host,
            "id": myid,
            "address": address,
            "server_line": "server.%d=%s:%d:%d;%d" % (myid, _url_host(address), int(peer_port), int(election_port),
                                                      int(client_port)),
            "connect": "%s:%d" % (_url_host(address), int(client_port)),
        })
    return sorted(servers, key=lambda server: server["id"])


def cidr_problem(value, require_host_address=False):
    """Empty string when value is a valid address/prefix, else a sentence saying what is wrong.

    Returning the problem (instead of a boolean) lets an assert's fail_msg say why.
    """
    if not HAS_NETADDR:
        raise AnsibleFilterError("the controlplane_cidr_problem filter needs the python library netaddr "
                                 "on the controller: pip install netaddr")
    text = str(value or "")
    if "/" not in text:
        return "%r has no prefix length; write it as address/prefix, e.g. 172.26.0.1/16" % (text,)
    try:
        network = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError) as error:
        return "%r is not a valid address/prefix (%s)" % (text, error)
    if require_host_address and network.size > 2 and network.ip in (network.network, network.broadcast):
        return ("%r is the network or broadcast address of %s; docker's bip wants the bridge's own "
                "address, e.g. %s/%d" % (text, network.cidr, network.network + 1, network.prefixlen))
    return ""


class FilterModule(object):
    """Cluster membership filters for the control-plane roles."""

    def filters(self):
        return {
            "controlplane_etcd_members": etcd_members,
            "controlplane_etcd_initial_cluster": etcd_initial_cluster,
            "controlplane_zookeeper_ensemble": zookeeper_ensemble,
            "controlplane_cidr_problem": cidr_problem,
        }
