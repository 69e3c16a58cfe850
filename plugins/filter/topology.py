# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the multi-site inventory into per-host HTCondor and Calico network settings."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.htcfarm.bsaas.plugins.module_utils import inputs as input_checks
from ansible_collections.htcfarm.bsaas.plugins.module_utils import topology as topo

try:
    import yaml
except ImportError:  # pragma: no cover - ansible-core itself needs PyYAML
    yaml = None

# bsaas_topology(hostvars, groups[, overrides]) -> topology (pool, sites, hosts, errors, warnings)
# bsaas_topology_host(topology, inventory_hostname) -> htcondor_* and calico_* role inputs for that host
# bsaas_topology_summary(topology) -> one line per site
# bsaas_topology_inputs(topology) -> {host: role inputs} for every host at once; the htcondor role turns them
#   into HTCondor knobs itself (condor_host_fragments)
# bsaas_deploy_plan(table, components, groups, mode, probe_results) -> per component: deploy or why not
# bsaas_plan_report(plan, topology) -> the final summary lines of site.yml
# bsaas_components_on(table, host, groups[, names]) -> table entries whose host pattern includes host
# bsaas_input_check(hostvars, groups, component_defaults, pool, topology) -> {errors, warnings}: variable
#   names nothing in the collection reads, and values the roles would refuse (or silently misuse)

# Only these variables shape the topology; reading just them keeps the filter fast on big inventories,
# because every hostvars lookup is templated on access.
HOST_KEYS = ('ansible_host', 'bsaas_private_address', 'bsaas_public_address')
SITE_KEYS = ('bsaas_site_name', 'bsaas_site_as_number', 'bsaas_site_nat', 'bsaas_site_public_address',
             'bsaas_site_private_networks', 'bsaas_site_calico_pool', 'bsaas_site_route_reflectors')


def _plain(value):
    """Ordered dicts and tagged strings to plain JSON types, so the result is safe as an Ansible variable."""
    return json.loads(json.dumps(value, default=to_native))


def _extract(hostvars, groups):
    site_groups = [g for g in groups if g.startswith(topo.SITE_GROUP_PREFIX)]
    wanted_pool = tuple(topo.POOL_DEFAULTS)
    extracted = {}
    all_hosts = set(groups.get('all', []))
    for members in groups.values():
        all_hosts.update(members)
    # Group-level variables are identical on all members; read them on the first member only.
    site_readers = set(sorted(groups[g])[0] for g in site_groups if groups.get(g))
    first = sorted(all_hosts)[0] if all_hosts else None
    for host in all_hosts:
        try:
            source = hostvars[host]
        except KeyError:
            continue
        keys = HOST_KEYS + (SITE_KEYS if host in site_readers else ()) + (wanted_pool if host == first else ())
        values = {}
        for key in keys:
            if key in source:
                values[key] = source[key]
        extracted[host] = values
    return extracted


def bsaas_topology(hostvars, groups, overrides=None):
    """Compute the pool topology from the inventory."""
    try:
        plain_groups = dict((name, list(members or [])) for name, members in groups.items())
        return _plain(topo.compute_topology(_extract(hostvars, plain_groups), plain_groups, overrides))
    except topo.TopologyError as error:
        raise AnsibleFilterError(to_native(error))


def bsaas_topology_host(topology, host):
    """The htcondor_* and calico_* role inputs of one host."""
    try:
        return _plain(topo.host_variables(topology, host))
    except topo.TopologyError as error:
        raise AnsibleFilterError(to_native(error))


def bsaas_topology_inputs(topology):
    """Every host's role inputs (as bsaas_topology_host), in one pass."""
    try:
        return _plain(dict((host, topo.host_variables(topology, host)) for host in topology['hosts']))
    except topo.TopologyError as error:
        raise AnsibleFilterError(to_native(error))


def _roles_present():
    """Roles shipped next to this filter, i.e. in the collection that is running."""
    roles_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'roles')
    if not os.path.isdir(roles_dir):
        return []
    return sorted(name for name in os.listdir(roles_dir)
                  if os.path.isfile(os.path.join(roles_dir, name, 'tasks', 'main.yml')))


def bsaas_deploy_plan(table, components, groups, htcondor_mode='native', probe_results=None, roles_present=None):
    """Which components site.yml deploys, in layer order, each with the reason when it does not."""
    present = _roles_present() if roles_present is None else list(roles_present)
    plain_groups = dict((name, list(members or [])) for name, members in groups.items())
    return _plain(topo.deploy_plan(table, components, plain_groups, htcondor_mode, probe_results or [], present))


def bsaas_plan_report(plan, topology, submitter_ssh_port=22):
    """Final report lines: layers and components deployed or skipped (with why), how users reach the submitter."""
    return topo.plan_report(plan, topology, submitter_ssh_port)


def bsaas_artifact_item(pair):
    """One (component, artifact) pair from dict2items | subelements('value.artifacts') as a flat dict."""
    component, artifact = pair
    if not isinstance(artifact, dict) or not ('url' in artifact or 'path' in artifact):
        raise AnsibleFilterError('bsaas_components.%s.artifacts: %r must be a mapping with url (probed with HEAD) '
                                 'or path (a file on the controller), and optionally sha256'
                                 % (component.get('key'), artifact))
    return {'component': component.get('key'), 'artifact': artifact}


def bsaas_components_on(table, host, groups, names=None):
    """Entries of a component table whose host pattern ('a:b' group union, or 'all') includes ``host``."""
    plain_groups = dict((name, list(members or [])) for name, members in groups.items())
    return [entry for entry in table
            if (names is None or entry['name'] in names) and
            host in topo._pattern_members(entry['hosts'], plain_groups)]


def bsaas_topology_summary(topology):
    """One human-readable line per site."""
    return topo.summary_lines(topology)


COLLECTION_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
_INTERFACES = {}


def collection_interface(root=COLLECTION_ROOT):
    """scan_collection of this collection, once per controller process."""
    if root not in _INTERFACES:
        if yaml is None:
            raise AnsibleFilterError('bsaas_input_check needs PyYAML on the controller')
        _INTERFACES[root] = input_checks.scan_collection(root, yaml.safe_load)
    return _INTERFACES[root]


def _host_views(hostvars, hosts):
    """(templated, raw) variables per host; one hostvars lookup per host, since each builds the host's vars."""
    templated = {}
    raw = {}
    for host in hosts:
        try:
            source = hostvars[host]
        except KeyError:
            continue
        templated[host] = source
        # HostVarsVars keeps the untemplated variables in _vars; plain dicts (tests) are their own raw view.
        raw[host] = getattr(source, '_vars', None) or source
    return templated, raw


def bsaas_input_check(hostvars, groups, component_defaults, pool=None, topology=None, strict=False):
    """Inventory inputs checked against what the collection reads and what its roles accept."""
    plain_groups = dict((name, list(members or [])) for name, members in groups.items())
    hosts = set(plain_groups.get('all', []))
    for members in plain_groups.values():
        hosts.update(members)
    templated, raw = _host_views(hostvars, sorted(hosts))
    result = input_checks.check_inputs(templated, plain_groups, collection_interface(), component_defaults or {},
                                       pool=pool, topology=topology, strict=strict, raw_hostvars=raw)
    return _plain(result)


class FilterModule(object):
    """htcfarm.bsaas topology filters."""

    def filters(self):
        return {
            'bsaas_topology': bsaas_topology,
            'bsaas_topology_host': bsaas_topology_host,
            'bsaas_topology_inputs': bsaas_topology_inputs,
            'bsaas_topology_summary': bsaas_topology_summary,
            'bsaas_deploy_plan': bsaas_deploy_plan,
            'bsaas_artifact_item': bsaas_artifact_item,
            'bsaas_components_on': bsaas_components_on,
            'bsaas_plan_report': bsaas_plan_report,
            'bsaas_input_check': bsaas_input_check,
        }
