# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the multi-site inventory into per-host HTCondor and Calico network settings."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

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
# bsaas_role_check(hostvars, groups, table, components, mode, topology_inputs) -> {problems, provisions, fetches}:
#   every enabled component's argument spec and fact-free checks on every host it runs on, what the roles
#   provide to each other (etcd -> calico, marathon -> bsaas) and what they would fetch
# bsaas_probe_results(probed) -> the shared probe's answers as deploy-plan probe results
# bsaas_role_verdicts(problems, plan) -> {errors, warnings}: role problems of deployed / skipped components

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


def _trusted(value, trust):
    """Role defaults and vars read from YAML, marked as templates Ansible may render (ansible-core 2.19)."""
    if trust is None:
        return value
    if isinstance(value, dict):
        return dict((k, _trusted(v, trust)) for k, v in value.items())
    if isinstance(value, list):
        return [_trusted(v, trust) for v in value]
    if isinstance(value, str) and ('{{' in value or '{%' in value):
        return trust(value)
    return value


def _has_template(value):
    if isinstance(value, str):
        return '{{' in value or '{%' in value
    if isinstance(value, dict):
        return any(_has_template(k) or _has_template(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_template(v) for v in value)
    return False


_UNRENDERABLE = object()
_IDENTIFIER = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
# Names whose value is the same for every host of the pass; left out of the rendering cache keys.
_GLOBAL_NAMES = frozenset(['groups', 'hostvars'])


def _flatten_key(key):
    """The parts of a cache key, with 'None-part' where a part could not be fingerprinted."""
    if key is None:
        return ['None-part']
    if isinstance(key, tuple):
        parts = []
        for item in key:
            parts.extend(_flatten_key(item))
        return parts
    return [key]


class _RoleValues(object):
    """resolve(host, role, names): the values a role would see on a host, rendered on the controller.

    Precedence as in a site.yml run: role defaults < inventory < role vars < what site.yml hands the host
    (set_fact: topology inputs, other roles' provisions). A value that cannot be rendered here (it needs facts
    or a file made later) is left out, and the role judges it on the host.
    """

    def __init__(self, hostvars, groups, interface, handed):
        from ansible.parsing.dataloader import DataLoader
        try:
            from ansible.template import trust_as_template as trust
        except ImportError:  # ansible-core < 2.19 renders every string
            trust = None
        self.trust = trust
        self.loader = DataLoader()
        self.hostvars = hostvars
        self.groups = groups
        self.interface = interface
        self.handed = handed
        self.raw = {}
        self.contexts = {}
        self._templar = None
        self.rendered = {}
        self.classes = {}
        self.by_class = {}
        self.defaults = dict((r, _trusted(v, trust)) for r, v in interface['defaults'].items())
        self.role_vars = dict((r, _trusted(v, trust)) for r, v in interface.get('vars', {}).items())

    def _fingerprint(self, value, variables, depth):
        if isinstance(value, (bool, int, float)) or value is None:
            return repr(value)
        if isinstance(value, str):
            if depth < 6 and ('{{' in value or '{%' in value):
                return (str(value),) + tuple(
                    (ident, self._fingerprint(variables[ident], variables, depth + 1) if ident in variables else '-')
                    for ident in sorted(set(_IDENTIFIER.findall(value))) if ident not in _GLOBAL_NAMES)
            return str(value)
        if _has_template(value):
            if depth >= 6:
                return None
            if isinstance(value, dict):
                return ('{',) + tuple((str(k), self._fingerprint(v, variables, depth + 1))
                                      for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
            return ('[',) + tuple(self._fingerprint(v, variables, depth + 1) for v in value)
        try:
            return json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return None

    def cache_key(self, value, variables):
        """What the rendered value depends on: the template and, transitively, the values of the names it uses.

        groups and hostvars are the same for every host; everything else (inventory_hostname included) is in the
        key, so hosts with the same inputs share one rendering and Jinja compiles each template far fewer times.
        """
        key = self._fingerprint(value, variables, 0)
        if key is None or 'None-part' in _flatten_key(key):
            return None
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def templar(self, variables):
        """One Templar for the whole pass, so Jinja compiles each template once (not once per host)."""
        if self._templar is None:
            from ansible.template import Templar
            self._templar = Templar(loader=self.loader, variables=variables)
        else:
            self._templar.available_variables = variables
        return self._templar

    def inventory(self, host):
        if host not in self.raw:
            try:
                source = self.hostvars[host]
            except KeyError:
                source = {}
            self.raw[host] = dict(getattr(source, '_vars', None) or source)
        return self.raw[host]

    def sets(self, host, name):
        return name in self.inventory(host)

    def context(self, host, role):
        key = (host, role)
        if key not in self.contexts:
            merged = dict(self.defaults.get(role, {}))
            merged.update(self.inventory(host))
            merged.update(self.role_vars.get(role, {}))
            merged.update(self.handed.get(host, {}))
            merged.update({'groups': self.groups, 'inventory_hostname': host,
                           'inventory_hostname_short': host.split('.')[0], 'hostvars': self.hostvars,
                           'group_names': sorted(g for g, m in self.groups.items() if host in m and g != 'all')})
            if len(self.contexts) > 64:
                self.contexts = {}
            self.contexts[key] = merged
        return self.contexts[key]

    def host_class(self, host):
        """Hosts in the same groups with the same collection variables see alike role values (but for their own
        names and per-host topology details): for the checks they are resolved once per such class."""
        if host not in self.classes:
            prefixes = tuple(self.interface['prefixes'])
            raw = self.inventory(host)
            own = dict((k, v) for k, v in raw.items() if isinstance(k, str) and k.startswith(prefixes))
            # What site.yml hands the host comes from the topology, already checked, and differs per host in its
            # details (a mesh lists every other node); its names, not its values, tell the class.
            try:
                fingerprint = json.dumps([own, sorted(self.handed.get(host, {}))], sort_keys=True, default=str)
            except (TypeError, ValueError):
                fingerprint = host
            membership = tuple(sorted(g for g, m in self.groups.items() if host in m))
            self.classes[host] = (membership, fingerprint)
        return self.classes[host]

    def __call__(self, host, role, names):
        key = (role, tuple(names), self.host_class(host))
        if key not in self.by_class:
            self.by_class[key] = self.resolve(host, role, names)
        return self.by_class[key]

    def resolve(self, host, role, names):
        variables = self.context(host, role)
        templar = None
        out = {}
        for name in names:
            if name not in variables:
                continue
            value = variables[name]
            if not _has_template(value):
                out[name] = value
                continue
            key = self.cache_key(value, variables)
            if key is not None and key in self.rendered:
                if self.rendered[key] is not _UNRENDERABLE:
                    out[name] = self.rendered[key]
                continue
            try:
                templar = templar or self.templar(variables)
                out[name] = _plain(templar.template(value))
                if key is not None:
                    self.rendered[key] = out[name]
            except Exception:  # pylint: disable=broad-except
                # Undefined facts, lookups of files made later: the role checks these on the host.
                if key is not None:
                    self.rendered[key] = _UNRENDERABLE
                continue
        return out


def _deployed(table, components, groups, mode):
    """[(component, [hosts])] site.yml would deploy, before the artifact probes (enabled, this mode, has hosts)."""
    out = []
    for entry in table:
        settings = components.get(entry['name']) or {}
        if entry.get('mode') and entry['mode'] != mode:
            continue
        if not topo._to_bool(settings.get('enabled', True)):
            continue
        members = topo._pattern_members(entry['hosts'], groups)
        if members:
            out.append((entry['name'], members))
    return out


PROVIDERS = ('etcd', 'marathon')


def bsaas_role_check(hostvars, groups, table, components, mode='native', topology_inputs=None):
    """Role argument specs and fact-free checks of every host, the roles' provisions and fetches, in one pass."""
    plain_groups = dict((name, list(members or [])) for name, members in groups.items())
    interface = collection_interface()
    # Plain data first: variables handed in by the play are lazy containers, slow to walk host by host.
    table, components = _plain(table), _plain(components or {})
    deployed = _deployed(table, components, plain_groups, mode)
    handed = _plain(topology_inputs or {})
    resolve = _RoleValues(hostvars, plain_groups, interface, handed)
    # Provisions are resolved host by host (one URL per Marathon host), never per class.
    provided, secrets = input_checks.provisions(
        [(r, h) for r, h in deployed if r in PROVIDERS], dict(deployed), resolve.resolve, resolve.sets)
    for host, values in provided.items():
        handed.setdefault(host, {}).update(values)
    # The handed inputs changed: start the caches again.
    resolve.contexts, resolve.classes, resolve.by_class, resolve.rendered = {}, {}, {}, {}
    problems = input_checks.check_roles(deployed, interface, resolve)
    return _plain({'problems': problems, 'provisions': provided, 'secret_names': secrets,
                   'fetches': input_checks.fetches(deployed, resolve)})


def bsaas_role_verdicts(problems, plan):
    """bsaas_role_check's problems as errors (components the plan deploys) and warnings (skipped ones)."""
    return _plain(input_checks.role_verdicts(problems, plan))


def bsaas_probe_results(probed):
    """The shared artifact probe's answers ({component, ref, ok, why}) as deploy-plan probe results."""
    results = []
    for item in probed or []:
        results.append({'item': {'component': item.get('component'), 'artifact': {'url': item.get('ref')}},
                        'status': 200 if item.get('ok') else -1,
                        'msg': item.get('why') or 'not reachable'})
    return results


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
            'bsaas_role_check': bsaas_role_check,
            'bsaas_probe_results': bsaas_probe_results,
            'bsaas_role_verdicts': bsaas_role_verdicts,
        }
