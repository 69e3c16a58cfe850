# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that build calicoctl v1 resources (Calico v2.6) for the calico role."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: calico_resources
short_description: Build the calicoctl v1 resources of a BSaaS deployment
description:
  - Returns a list of calicoctl v1 resources (C(ipPool), C(bgpPeer), C(node), C(profile), C(policy)) for
    C(calicoctl apply -f). Input is the calico role's variables as one mapping.
  - The same file provides C(calico_cni_config) (CNI network for Mesos) and C(calico_instance_network).
options:
  _input:
    description: >-
      Mapping with keys ip_pools, bgp_peers, node_name, node_ipv4_address, as_number, instances,
      ssh_source_nets, pool_source_nets.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Render the resources
  ansible.builtin.copy:
    content: "{{ {'ip_pools': calico_ip_pools, 'instances': ['atlas']} | htcfarm.bsaas.calico_resources | to_nice_yaml }}"
    dest: /etc/calico/resources.yaml
    mode: "0644"
"""

RETURN = r"""
_value:
  description: calicoctl v1 resources.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.htcfarm.bsaas.plugins.module_utils import calico
from ansible_collections.htcfarm.bsaas.plugins.module_utils import inputs


def calico_resources(settings):
    """Every resource the role applies, in dependency order (pools, node, peers, profiles, policies)."""
    try:
        resources = [calico.ip_pool(p["cidr"], p.get("ipip_mode", "always"), p.get("nat_outgoing", True),
                                    p.get("disabled", False))
                     for p in settings.get("ip_pools") or []]
        if settings.get("node_name") and settings.get("node_ipv4_address"):
            resources.append(calico.node_resource(settings["node_name"], settings["node_ipv4_address"],
                                                  settings.get("as_number")))
        for peer in settings.get("bgp_peers") or []:
            resources.append(calico.bgp_peer(peer["peer_ip"], peer["as_number"], peer.get("node")))
        for instance in settings.get("instances") or []:
            resources.append(calico.instance_profile(instance))
            resources.append(calico.instance_policy(instance, settings.get("ssh_source_nets"),
                                                    settings.get("pool_source_nets")))
        return resources
    except (KeyError, calico.CalicoError) as err:
        raise AnsibleFilterError("calico_resources: %s" % (err,))


def calico_cni_config(network_name, etcd_endpoints, etcd_ca=None, etcd_cert=None, etcd_key=None):
    return calico.cni_config(network_name, etcd_endpoints, etcd_ca, etcd_cert, etcd_key)


def calico_instance_network(instance):
    try:
        return calico.instance_network_name(instance)
    except calico.CalicoError as err:
        raise AnsibleFilterError(str(err))


def calico_subnets_outside_pools(subnets, pools):
    try:
        return calico.subnets_outside_pools(subnets, pools)
    except calico.CalicoError as err:
        raise AnsibleFilterError(str(err))


def calico_input_problems(values):
    """The calico role's fact-free input checks (the same code site.yml's preflight runs on the controller)."""
    return inputs.role_problems('calico', dict(values or {}))


class FilterModule(object):
    def filters(self):
        return {
            "calico_input_problems": calico_input_problems,
            "calico_resources": calico_resources,
            "calico_cni_config": calico_cni_config,
            "calico_instance_network": calico_instance_network,
            "calico_subnets_outside_pools": calico_subnets_outside_pools,
        }
