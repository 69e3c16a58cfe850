# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calico v2.6 (calicoctl v1 API) resources for BSaaS: IP pools, BGP peers, nodes, per-instance isolation."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # pragma: no cover - netaddr is in requirements on both interpreters
    netaddr = None
    HAS_NETADDR = False

API_VERSION = "v1"
HTCONDOR_SHARED_PORT = 9618
# Calico names: lowercase letters, digits, '-', '.', '_' (profile and policy names become iptables chains).
NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")


class CalicoError(ValueError):
    """Invalid input for a Calico resource; the message names the variable to fix."""


def _need_netaddr():
    if not HAS_NETADDR:
        raise CalicoError("the Python library netaddr is required on the controller (pip install netaddr)")


def check_name(name, what):
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise CalicoError("%s %r is not a valid Calico name: use lowercase letters, digits, '-', '.', '_'"
                          % (what, name))
    return name


def check_as_number(as_number, what="calico_as_number"):
    """Plain or dotted (asdot) 4-byte AS numbers, as calicoctl accepts them."""
    text = str(as_number)
    if re.match(r"^\d+\.\d+$", text):
        high, low = (int(p) for p in text.split("."))
        value = high * 65536 + low
    elif re.match(r"^\d+$", text):
        value = int(text)
    else:
        raise CalicoError("%s %r is not an AS number (e.g. 64512 or 1.10)" % (what, as_number))
    if not 0 < value < 2 ** 32:
        raise CalicoError("%s %r is outside 1..4294967295" % (what, as_number))
    return int(text) if text.isdigit() else text


def ip_pool(cidr, ipip_mode="always", nat_outgoing=True, disabled=False):
    """ipPool resource; ipip_mode 'off' leaves tunnelling out (same subnet, BGP-routed sites only)."""
    _need_netaddr()
    try:
        network = netaddr.IPNetwork(cidr)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise CalicoError("calico_ip_pools: %r is not a CIDR (e.g. 10.233.0.0/16)" % (cidr,))
    if network.ip != network.network:
        raise CalicoError("calico_ip_pools: %s has host bits set; did you mean %s?" % (cidr, network.cidr))
    spec = {"nat-outgoing": bool(nat_outgoing), "disabled": bool(disabled)}
    if ipip_mode not in ("always", "cross-subnet", "off"):
        raise CalicoError("calico_ip_pools: ipip mode %r must be always, cross-subnet or off" % (ipip_mode,))
    if ipip_mode != "off":
        spec["ipip"] = {"enabled": True, "mode": ipip_mode}
    return {"apiVersion": API_VERSION, "kind": "ipPool", "metadata": {"cidr": str(network)}, "spec": spec}


def bgp_peer(peer_ip, as_number, node=None):
    """bgpPeer resource: global when node is None, else only for that Calico node."""
    _need_netaddr()
    try:
        address = netaddr.IPAddress(peer_ip)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise CalicoError("calico_bgp_peers: peer_ip %r is not an IP address" % (peer_ip,))
    metadata = {"scope": "global", "peerIP": str(address)}
    if node:
        metadata = {"scope": "node", "node": node, "peerIP": str(address)}
    return {"apiVersion": API_VERSION, "kind": "bgpPeer", "metadata": metadata,
            "spec": {"asNumber": check_as_number(as_number, "calico_bgp_peers: asNumber")}}


def node_resource(name, ipv4_address, as_number=None):
    """node resource carrying the BGP address and, for multi-site pools, the site's AS number."""
    _need_netaddr()
    try:
        interface = netaddr.IPNetwork(ipv4_address)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise CalicoError("calico_node_ipv4_address %r is not an address/prefix (e.g. 192.0.2.10/24)"
                          % (ipv4_address,))
    bgp = {"ipv4Address": "%s/%d" % (interface.ip, interface.prefixlen)}
    if as_number is not None and str(as_number) != "":
        bgp["asNumber"] = check_as_number(as_number)
    return {"apiVersion": API_VERSION, "kind": "node", "metadata": {"name": name}, "spec": {"bgp": bgp}}


def instance_network_name(instance):
    return "bsaas-" + check_name(instance, "bsaas instance name")


def instance_profile(instance):
    """Profile of one BSaaS instance: endpoints on its network get label bsaas-instance=<name>.

    The profile itself allows only traffic from the same instance; what users may reach comes from the
    policy, so two instances on the same hosts cannot talk to each other.
    """
    name = instance_network_name(instance)
    same_instance = "bsaas-instance == '%s'" % instance
    return {
        "apiVersion": API_VERSION, "kind": "profile",
        "metadata": {"name": name, "labels": {"bsaas-instance": instance}},
        "spec": {"ingress": [{"action": "allow", "source": {"selector": same_instance}}],
                 "egress": [{"action": "allow"}]},
    }


def instance_policy(instance, ssh_source_nets, pool_source_nets=None, order=100):
    """Policy of one BSaaS instance: its own traffic, ssh from the users' networks, HTCondor from peer sites."""
    _need_netaddr()
    same_instance = "bsaas-instance == '%s'" % instance
    ingress = [{"action": "allow", "source": {"selector": same_instance}}]
    for what, nets, port in (("calico_bsaas_ssh_source_nets", ssh_source_nets, 22),
                             ("calico_bsaas_pool_source_nets", pool_source_nets, HTCONDOR_SHARED_PORT)):
        if not nets:
            continue
        try:
            cidrs = [str(netaddr.IPNetwork(n).cidr) for n in nets]
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise CalicoError("%s must be a list of CIDRs, got %r" % (what, nets))
        ingress.append({"action": "allow", "protocol": "tcp", "source": {"nets": cidrs},
                        "destination": {"ports": [port]}})
    return {
        "apiVersion": API_VERSION, "kind": "policy",
        "metadata": {"name": instance_network_name(instance)},
        "spec": {"order": int(order), "selector": same_instance, "types": ["ingress", "egress"],
                 "ingress": ingress, "egress": [{"action": "allow"}]},
    }


def cni_config(network_name, etcd_endpoints, etcd_ca=None, etcd_cert=None, etcd_key=None, log_level="info"):
    """CNI network config for the Mesos unified containerizer (Calico CNI plugin with calico-ipam)."""
    config = {"cniVersion": "0.3.1", "name": network_name, "type": "calico",
              "etcd_endpoints": ",".join(etcd_endpoints), "log_level": log_level,
              "ipam": {"type": "calico-ipam"}}
    if etcd_ca:
        config.update({"etcd_ca_cert_file": etcd_ca, "etcd_cert_file": etcd_cert, "etcd_key_file": etcd_key})
    return config


def instance_subnet_host(subnet, index):
    """The address at ``index`` in an instance subnet (fixed address of the central manager)."""
    _need_netaddr()
    network = netaddr.IPNetwork(subnet)
    if not 0 < index < network.size - 1:
        raise CalicoError("index %d is outside subnet %s" % (index, subnet))
    return str(network[index])


def subnets_outside_pools(subnets, pools):
    """Instance subnets not inside any IP pool: calico-ipam could not hand out their addresses."""
    _need_netaddr()
    networks = [netaddr.IPNetwork(p) for p in pools]
    outside = []
    for subnet in subnets:
        try:
            candidate = netaddr.IPNetwork(subnet)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            outside.append(str(subnet))
            continue
        if not any(candidate in network for network in networks):
            outside.append(str(subnet))
    return outside
