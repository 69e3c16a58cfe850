# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side checks of the inventory's inputs, before site.yml changes anything.

Two kinds of checks, both on plain data so they run the same in a filter, a test or a benchmark, on
Python 3.6 as on 3.11:

- variable names: every inventory variable carrying one of the collection's prefixes (one per role,
  ``bsaas_``, ``htcondor_``, ...) must be a name something in the collection reads. What the
  collection reads is derived from the collection itself (``scan_collection``): the roles' defaults,
  vars and argument specs, and every prefixed name referenced in roles, playbooks and plugins. An
  unknown name is a warning with the closest real name, or an error under ``bsaas_strict_variables``.
- values: the types, choices and ports the roles' argument specs declare, URLs parsed by
  urllib.parse, ``bsaas_components``, the pool domain, the etcd size, and the Lark subnets against the
  sites' networks and Calico pools.

Every mistake of every host is collected; a mistake shared by many hosts (a group variable) is one
message naming them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import os
import re
from collections import OrderedDict

from ansible.module_utils.six import string_types
from ansible.module_utils.six.moves.urllib.parse import urlsplit
# One parser and one overlap test for networks, the topology's (netaddr; a CIDR, never a bare address).
from ansible_collections.htcfarm.bsaas.plugins.module_utils.topology import (
    HAS_NETADDR, _overlap as networks_overlap, _parse_network as parse_network)

# Where the collection reads variables: everything under these directories of the collection.
SCANNED_DIRS = ('roles', 'playbooks', 'plugins')
SKIPPED_DIRS = ('__pycache__',)
TEMPLATE_MARKERS = ('{{', '{%')
# Variables whose value is a URL (besides any *_url / *_urls / *_url_base / *_base_url name), and the
# schemes each accepts.
URL_SCHEMES = ('http', 'https')
URL_SCHEMES_BY_NAME = {'docker_ce_repo_base_url': ('http', 'https', 'file')}
URL_LIST_NAMES = ('calico_etcd_endpoints', 'docker_registry_mirrors', 'bsaas_marathon_url')
URL_NAME = re.compile(r'(_url|_urls|_url_base|_base_url)$')
# Variables that take a URL or, for air-gapped sites, an absolute path on the host.
URL_OR_PATH_NAMES = ('calico_calicoctl_url', 'calico_cni_url_base')
HOSTS_SHOWN = 4

POOL_CHOICES = OrderedDict([('bsaas_htcondor_mode', ('native', 'marathon'))])
COMPONENT_KEYS = ('enabled', 'artifacts')
ARTIFACT_KEYS = ('url', 'path', 'sha256')
HTCONDOR_GROUPS = ('htcondor_central_managers', 'htcondor_submitters', 'htcondor_executors')


def role_prefixes(role_names):
    """One prefix per role: its name up to the first underscore (perfsonar_ingest -> perfsonar_)."""
    return sorted(set(str(name).split('_', 1)[0] + '_' for name in role_names if name))


def _name_pattern(prefixes):
    alternatives = '|'.join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True))
    return re.compile(r'(?<![A-Za-z0-9_.])((?:%s)[A-Za-z0-9_]+)' % alternatives)


def names_in_text(text, prefixes, pattern=None):
    """Every prefixed identifier in ``text``."""
    pattern = pattern or _name_pattern(prefixes)
    return set(match.group(1) for match in pattern.finditer(text))


def _option_specs(argument_specs):
    """{option name: spec} over every entry point of one role's meta/argument_specs.yml."""
    options = {}
    for entry in ((argument_specs or {}).get('argument_specs') or {}).values():
        for name, spec in ((entry or {}).get('options') or {}).items():
            options[name] = dict(spec or {})
    return options


def scan_collection(root, load_yaml):
    """What the collection at ``root`` reads: prefixes, known names, argument specs and role defaults.

    ``load_yaml`` parses YAML text (yaml.safe_load); the caller passes it so this module needs nothing
    beyond the standard library.
    """
    roles_dir = os.path.join(root, 'roles')
    roles = sorted(name for name in os.listdir(roles_dir) if os.path.isdir(os.path.join(roles_dir, name)))
    prefixes = role_prefixes(roles)
    pattern = _name_pattern(prefixes)
    known = set()
    for top in SCANNED_DIRS:
        for directory, subdirs, files in os.walk(os.path.join(root, top)):
            subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS)
            for name in sorted(files):
                try:
                    with open(os.path.join(directory, name), 'rb') as handle:
                        text = handle.read().decode('utf-8', 'replace')
                except (IOError, OSError):
                    continue
                known.update(names_in_text(text, prefixes, pattern))
    specs = {}
    defaults = {}
    role_vars = {}
    main_specs = {}
    for role in roles:
        spec_file = os.path.join(roles_dir, role, 'meta', 'argument_specs.yml')
        if os.path.isfile(spec_file):
            with open(spec_file) as handle:
                loaded = load_yaml(handle.read()) or {}
            for option, spec in _option_specs(loaded).items():
                spec['role'] = role
                specs[option] = spec
            main = ((loaded.get('argument_specs') or {}).get('main') or {}).get('options') or {}
            main_specs[role] = dict((name, dict(spec or {})) for name, spec in main.items())
        vars_file = os.path.join(roles_dir, role, 'vars', 'main.yml')
        if os.path.isfile(vars_file):
            with open(vars_file) as handle:
                role_vars[role] = load_yaml(handle.read()) or {}
        defaults_file = os.path.join(roles_dir, role, 'defaults', 'main.yml')
        if os.path.isfile(defaults_file):
            with open(defaults_file) as handle:
                defaults[role] = load_yaml(handle.read()) or {}
    for role_defaults in defaults.values():
        known.update(k for k in role_defaults if any(k.startswith(p) for p in prefixes))
    known.update(specs)
    return {'roles': roles, 'prefixes': prefixes, 'known': sorted(known), 'specs': specs, 'defaults': defaults,
            'vars': role_vars, 'main_specs': main_specs}


class _Problems(object):
    """Messages keyed by their text after the host, so one group variable wrong on 500 hosts is one line."""

    def __init__(self):
        self.by_text = OrderedDict()

    def add(self, host, text):
        hosts = self.by_text.setdefault(text, [])
        if host not in hosts:
            hosts.append(host)

    def lines(self):
        out = []
        for text, hosts in self.by_text.items():
            if len(hosts) == 1:
                where = 'host %s' % hosts[0]
            elif len(hosts) <= HOSTS_SHOWN:
                where = 'hosts %s' % ', '.join(hosts)
            else:
                where = 'hosts %s and %d more' % (', '.join(hosts[:HOSTS_SHOWN]), len(hosts) - HOSTS_SHOWN)
            out.append('%s: %s' % (where, text))
        return out


def _is_template(value):
    return isinstance(value, string_types) and any(m in value for m in TEMPLATE_MARKERS)


def _walk_strings(value):
    if isinstance(value, string_types):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_strings(key)
            yield from _walk_strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk_strings(item)


class _Unresolved(Exception):
    """A value that cannot be templated on the controller (it needs facts or role defaults); not judged."""


def _resolve(host_vars, name):
    try:
        return host_vars[name]
    except Exception:  # pylint: disable=broad-except
        # Templating errors of every kind: the role's own checks judge such values on the host.
        raise _Unresolved(name)


def closest_name(name, known):
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return match[0] if match else ''


def url_problem(value, schemes=URL_SCHEMES):
    """Why ``value`` is not a usable URL ('' when it is): scheme, host and port, parsed, not prefix-matched."""
    if not isinstance(value, string_types):
        return 'is not a string'
    if value != value.strip() or any(c.isspace() for c in value):
        return 'contains white space'
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:
        return 'does not parse as a URL (%s)' % error
    if not parts.scheme:
        return 'has no scheme (%s)' % ' or '.join('%s://' % scheme for scheme in schemes)
    if parts.scheme not in schemes:
        return 'has scheme %r, not %s' % (parts.scheme, ' or '.join(schemes))
    if parts.scheme == 'file':
        return '' if parts.path else 'names no path'
    if not parts.hostname:
        return 'names no host'
    if port is not None and not 1 <= port <= 65535:
        return 'has port %s, outside 1-65535' % port
    return ''


def _port_problem(value):
    if isinstance(value, bool):
        return 'is a boolean, not a TCP port'
    try:
        port = int(str(value).strip())
    except (TypeError, ValueError):
        return 'is not a number'
    if not 1 <= port <= 65535:
        return 'is outside 1-65535'
    return ''


def _check_spec(name, value, spec):
    """Problems of one value against its argument spec: list types, choices, ports; '' when fine."""
    kind = spec.get('type', 'str')
    if kind == 'list':
        if isinstance(value, string_types):
            return ('is the string %r where a list is expected (the role would see the raw string); write a YAML '
                    'list, e.g. %s: [%s]' % (value, name, ', '.join(v.strip() for v in value.split(',') if v.strip())))
        if not isinstance(value, (list, tuple)):
            return 'is %s where a list is expected; write a YAML list' % type(value).__name__
        if spec.get('elements') == 'dict' and not all(isinstance(v, dict) for v in value):
            return 'must be a list of mappings; fix the items that are not'
        return ''
    if kind == 'dict' and not isinstance(value, dict):
        return 'is %s where a mapping is expected; write a YAML mapping' % type(value).__name__
    choices = spec.get('choices')
    if choices and value not in choices:
        return '%r is not one of %s; pick one of them' % (value, ', '.join(str(c) for c in choices))
    if kind == 'int' and name.endswith('_port'):
        problem = _port_problem(value)
        if problem:
            return '%r %s; give a TCP port from 1 to 65535' % (value, problem)
    elif kind == 'int' and (isinstance(value, bool) or not re.match(r'^-?[0-9]+$', str(value).strip())):
        return '%r is not an integer; give a whole number' % (value,)
    return ''


def _url_schemes(name):
    return URL_SCHEMES_BY_NAME.get(name, URL_SCHEMES)


def _check_urls(name, value):
    """URL problems of a variable whose name says it holds URLs; [] when fine or empty."""
    if value in (None, ''):
        return []
    values = value if isinstance(value, (list, tuple)) else [value]
    problems = []
    for item in values:
        if item in (None, ''):
            continue
        if name in URL_OR_PATH_NAMES and isinstance(item, string_types) and item.startswith('/'):
            continue
        problem = url_problem(item, _url_schemes(name))
        if problem:
            problems.append('%r %s; give a full URL such as %s://host.example.org:port/path'
                            % (item, problem, _url_schemes(name)[-1] if name in URL_SCHEMES_BY_NAME else 'https'))
    return problems


def _components(value, component_defaults, errors):
    """bsaas_components checked and merged over the defaults; malformed parts become errors, never a crash."""
    effective = OrderedDict((name, dict(spec)) for name, spec in component_defaults.items())
    if value in (None, ''):
        return effective
    if not isinstance(value, dict):
        errors.append('bsaas_components is %s (%r); it must map component names (%s) to {enabled, artifacts}, '
                      'e.g. bsaas_components: {lark: {enabled: false}}. Fix group_vars/all.yml.'
                      % ('a list' if isinstance(value, (list, tuple)) else type(value).__name__,
                         value if not isinstance(value, (list, tuple)) else list(value)[:4],
                         ', '.join(component_defaults)))
        return effective
    for name, settings in value.items():
        if name not in component_defaults:
            hint = closest_name(str(name), list(component_defaults))
            errors.append('bsaas_components.%s is not a component of this collection%s; the components are %s. '
                          'Fix group_vars/all.yml.' % (name, (' (did you mean %s?)' % hint) if hint else '',
                                                        ', '.join(component_defaults)))
            continue
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            errors.append('bsaas_components.%s is %r; it must be a mapping {enabled: true|false, artifacts: [...]}. '
                          'Fix group_vars/all.yml.' % (name, settings))
            continue
        for key in settings:
            if key not in COMPONENT_KEYS:
                hint = closest_name(str(key), list(COMPONENT_KEYS))
                errors.append('bsaas_components.%s.%s is not a component setting%s; a component takes only %s, '
                              'and a misspelt key is otherwise ignored. Fix group_vars/all.yml.'
                              % (name, key, (' (did you mean %s?)' % hint) if hint else '',
                                 ' and '.join(COMPONENT_KEYS)))
        enabled = settings.get('enabled', effective[name].get('enabled', True))
        if not isinstance(enabled, bool) and str(enabled).strip().lower() not in (
                'true', 'false', 'yes', 'no', 'on', 'off', '1', '0'):
            errors.append('bsaas_components.%s.enabled=%r is not a boolean; write true or false. Fix '
                          'group_vars/all.yml.' % (name, enabled))
            enabled = True
        artifacts = settings.get('artifacts', [])
        if artifacts is None:
            artifacts = []
        if not isinstance(artifacts, (list, tuple)):
            errors.append('bsaas_components.%s.artifacts is %r; it must be a list of {url: ...} or {path: ..., '
                          'sha256: ...}. Fix group_vars/all.yml.' % (name, artifacts))
            artifacts = []
        for artifact in artifacts:
            if not isinstance(artifact, dict) or not ('url' in artifact or 'path' in artifact):
                errors.append('bsaas_components.%s.artifacts: %r must be a mapping with url (probed with HEAD) or '
                              'path (a file on the controller), and optionally sha256. Fix group_vars/all.yml.'
                              % (name, artifact))
                continue
            extra = [k for k in artifact if k not in ARTIFACT_KEYS]
            if extra:
                errors.append('bsaas_components.%s.artifacts: %s not an artifact key (only %s). Fix '
                              'group_vars/all.yml.' % (name, ', '.join(str(k) for k in extra) +
                                                       (' is' if len(extra) == 1 else ' are'),
                                                       ', '.join(ARTIFACT_KEYS)))
            if 'url' in artifact and not _is_template(artifact['url']):
                problem = url_problem(artifact['url'])
                if problem:
                    errors.append('bsaas_components.%s.artifacts: url %r %s; give the full http(s) URL preflight '
                                  'probes. Fix group_vars/all.yml.' % (name, artifact['url'], problem))
        effective[name] = {'enabled': enabled if isinstance(enabled, bool) else
                           str(enabled).strip().lower() in ('true', 'yes', 'on', '1'),
                           'artifacts': list(artifacts)}
    return effective


def _networks_of(topology):
    """(label, IPNetwork) for every site network and Calico pool of the computed topology."""
    found = []
    for site in (topology or {}).get('sites', {}).values():
        if not site.get('hosts'):
            continue
        for cidr in site.get('private_networks') or []:
            found.append(('site %s network %s (bsaas_site_private_networks)' % (site['name'], cidr), cidr))
        if site.get('calico_pool'):
            found.append(('site %s Calico pool %s (bsaas_site_calico_pool)' % (site['name'], site['calico_pool']),
                          site['calico_pool']))
    return [(label, parse_network(cidr)) for label, cidr in found if parse_network(cidr) is not None]


def _lark_subnet_problems(networks, site_networks):
    problems = []
    if not isinstance(networks, dict):
        return ['lark_networks is %s; it must map network names to {type, subnet, ...}' % type(networks).__name__]
    for net_name, net in networks.items():
        if not isinstance(net, dict) or not net.get('subnet'):
            continue
        subnet = net['subnet']
        if _is_template(subnet):
            continue
        lark_net = parse_network(subnet)
        if lark_net is None:
            problems.append('lark_networks.%s.subnet=%r is not a CIDR network; give one such as 10.213.0.0/16'
                            % (net_name, subnet))
            continue
        for label, other in site_networks:
            if networks_overlap(lark_net, other):
                problems.append('lark_networks.%s.subnet %s overlaps %s: job addresses would shadow real ones; '
                                'give Lark a subnet outside every site network and Calico pool'
                                % (net_name, lark_net, label))
    return problems


def check_inputs(hostvars, groups, interface, component_defaults, pool=None, topology=None, strict=False,
                 raw_hostvars=None):
    """Every inventory input mistake at once: ``{'errors': [...], 'warnings': [...]}``.

    ``hostvars`` maps host to its variables (values may be templated on access and may raise);
    ``raw_hostvars`` the same untemplated, for the names templates reference (defaults to ``hostvars``).
    ``interface`` is scan_collection's result. ``pool`` holds the pool-wide values the preflight play sees
    (bsaas_components, bsaas_htcondor_mode, ...); ``topology`` the computed topology, for the Lark subnets.
    """
    pool = dict(pool or {})
    raw_hostvars = raw_hostvars if raw_hostvars is not None else hostvars
    errors = []
    warnings = []
    prefixes = tuple(interface['prefixes'])
    known = set(interface['known'])
    specs = interface['specs']
    all_hosts = sorted(set(groups.get('all', [])) | set(
        h for g, members in groups.items() if g not in ('all', 'ungrouped') for h in members or []))

    # Pool-wide choices (group all), and the components.
    for name, choices in POOL_CHOICES.items():
        value = pool.get(name, choices[0])
        if value not in choices:
            errors.append('%s=%r is not one of %s; pick one. Fix group_vars/all.yml.'
                          % (name, value, ', '.join(choices)))
    timeout = pool.get('bsaas_preflight_probe_timeout', 5)
    if isinstance(timeout, bool) or not re.match(r'^[0-9]+$', str(timeout).strip()) or int(timeout) <= 0:
        errors.append('bsaas_preflight_probe_timeout=%r must be a positive number of seconds. Fix '
                      'group_vars/all.yml.' % (timeout,))
    strict_value = pool.get('bsaas_strict_variables', strict)
    if not isinstance(strict_value, bool):
        errors.append('bsaas_strict_variables=%r must be true or false. Fix group_vars/all.yml.' % (strict_value,))
        strict_value = False
    components = _components(pool.get('bsaas_components'), component_defaults, errors)
    mode = pool.get('bsaas_htcondor_mode', 'native')

    def enabled(name):
        return bool(components.get(name, {}).get('enabled', True))

    # Names the inventory itself reads: variables its templates refer to (helpers such as a path prefix).
    referenced = set()
    for host in all_hosts:
        for value in (raw_hostvars.get(host) or {}).values():
            for text in _walk_strings(value):
                if _is_template(text):
                    referenced.update(names_in_text(text, prefixes))
    known |= referenced

    unknown = _Problems()
    values = _Problems()
    for host in all_hosts:
        host_vars = hostvars.get(host)
        if host_vars is None:
            continue
        raw = raw_hostvars.get(host) or {}
        for name in sorted(k for k in raw if isinstance(k, string_types) and k.startswith(prefixes)):
            if name not in known:
                hint = closest_name(name, sorted(known))
                unknown.add(host, '%s is not a variable of this collection, nothing reads it%s; rename or remove it '
                                  '(bsaas_strict_variables: true makes this an error)'
                            % (name, (' (did you mean %s?)' % hint) if hint else ''))
                continue
            spec = specs.get(name)
            wants_url = URL_NAME.search(name) or name in URL_LIST_NAMES
            if spec is None and not wants_url:
                continue
            try:
                value = _resolve(host_vars, name)
            except _Unresolved:
                continue
            if _is_template(value):
                continue
            if spec is not None:
                problem = _check_spec(name, value, spec)
                if problem:
                    values.add(host, '%s (role %s) %s' % (name, spec['role'], problem))
                    continue
            if wants_url:
                for problem in _check_urls(name, value):
                    values.add(host, '%s: %s' % (name, problem))

    # Cross-role facts.
    native = mode == 'native'
    if native and enabled('htcondor'):
        condor_hosts = sorted(set(h for g in HTCONDOR_GROUPS for h in groups.get(g, []) or []))
        for host in condor_hosts:
            host_vars = hostvars.get(host) or {}
            if 'htcondor_pool_domain' not in (raw_hostvars.get(host) or {}):
                values.add(host, 'htcondor_pool_domain is not set; the htcondor role needs it (it becomes '
                                 'TRUST_DOMAIN and UID_DOMAIN): set it in group_vars/all.yml, e.g. '
                                 'htcondor_pool_domain: pool.example.org')
                continue
            try:
                domain = _resolve(host_vars, 'htcondor_pool_domain')
            except _Unresolved:
                continue
            if not isinstance(domain, string_types) or not domain.strip():
                values.add(host, 'htcondor_pool_domain is empty (%r); it would render an empty TRUST_DOMAIN: set '
                                 'it in group_vars/all.yml to the pool\'s DNS domain, e.g. pool.example.org'
                           % (domain,))
            elif any(c.isspace() for c in domain.strip()) or '/' in domain:
                values.add(host, 'htcondor_pool_domain=%r is not a DNS domain; set it to one such as '
                                 'pool.example.org' % (domain,))

    etcd_defaults = interface['defaults'].get('etcd', {})
    etcd_group_name = etcd_defaults.get('etcd_group', 'etcd')
    members = list(groups.get(etcd_group_name, []) or [])
    if enabled('etcd') and members:
        allowed = etcd_defaults.get('etcd_allowed_member_counts', [3, 5])
        first = hostvars.get(sorted(members)[0]) or {}
        if 'etcd_allowed_member_counts' in (raw_hostvars.get(sorted(members)[0]) or {}):
            try:
                allowed = _resolve(first, 'etcd_allowed_member_counts')
            except _Unresolved:
                allowed = None
        if isinstance(allowed, (list, tuple)) and len(members) not in [int(n) for n in allowed
                                                                       if re.match(r'^[0-9]+$', str(n))]:
            errors.append('group %s has %d member(s) (%s); etcd needs an odd quorum size, one of %s '
                          '(etcd_allowed_member_counts): add or remove members in the inventory'
                          % (etcd_group_name, len(members), ', '.join(sorted(members)),
                             ', '.join(str(n) for n in allowed)))

    if enabled('lark') and native and enabled('htcondor') and HAS_NETADDR:
        site_networks = _networks_of(topology)
        lark_default = interface['defaults'].get('lark', {}).get('lark_networks', {})
        for host in sorted(groups.get('htcondor_executors', []) or []):
            if 'lark_networks' in (raw_hostvars.get(host) or {}):
                try:
                    networks = _resolve(hostvars.get(host) or {}, 'lark_networks')
                except _Unresolved:
                    continue
            else:
                networks = lark_default
            for problem in _lark_subnet_problems(networks, site_networks):
                values.add(host, problem)

    errors.extend(values.lines())
    if strict_value:
        errors.extend(unknown.lines())
    else:
        warnings.extend(unknown.lines())
    return {'errors': errors, 'warnings': warnings}


# ---------------------------------------------------------------------------------------------------------
# Role-level checks: each role's argument spec (Ansible's own ArgumentSpecValidator) and the role's checks
# that need no facts, for every host the component runs on, with the values the role would see there:
# what site.yml hands it (topology inputs, other roles' provisions), role vars, inventory, role defaults.
# The caller resolves those values (``resolve(host, role, names)`` -> {name: value} of the names it could
# resolve on the controller); what needs facts is left out and judged by the role on the host.
# ---------------------------------------------------------------------------------------------------------

class Unknown(Exception):
    """A value the controller cannot know before the role runs (it needs facts, or a file made later)."""


class _Values(object):
    """Read access to one role's resolved values; a missing one raises Unknown, which skips its check."""

    def __init__(self, values):
        self.values = values or {}

    def __call__(self, name):
        if name not in self.values:
            raise Unknown(name)
        return self.values[name]


def _text(value):
    return '' if value is None else (value if isinstance(value, string_types) else str(value))


def _as_list(value):
    if isinstance(value, (list, tuple)):
        return list(value)
    if value in (None, ''):
        return []
    return [value]


def _truthy(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ('true', 'yes', 'on', '1')


SHA256_PREFIXED = re.compile(r'^sha256:[0-9a-f]{64}$')
INSTANCE_NAME = re.compile(r'^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$')
MARATHON_FEATURES = ('vips', 'task_killing', 'external_volumes', 'gpu_resources', 'secrets')


def _calico_checks(get):
    def endpoints():
        value = get('calico_etcd_endpoints')
        if not isinstance(value, (list, tuple)) or not value:
            return ['calico_etcd_endpoints=%r: give the etcd client URLs (https://fe1:2379, ...); site.yml takes them '
                    'from the etcd role when etcd is deployed with the pool' % (value,)]
        bad = [v for v in value if url_problem(v)]
        return ['calico_etcd_endpoints: %r %s; give http(s)://host:port URLs' % (v, url_problem(v)) for v in bad]

    def certificates():
        names = ('calico_etcd_ca_file', 'calico_etcd_cert_file', 'calico_etcd_key_file')
        given = [bool(_text(get(n))) for n in names]
        if any(given) and not all(given):
            return ['calico_etcd_ca_file, calico_etcd_cert_file and calico_etcd_key_file go together: set all three '
                    '(or calico_etcd_ca_src, calico_etcd_cert_src and calico_etcd_key_src on the controller) or none']
        return []

    def pools():
        value = get('calico_ip_pools')
        if not isinstance(value, (list, tuple)) or not value:
            return ['calico_ip_pools is empty: give at least one pool (cidr, ipip_mode, nat_outgoing)']
        return []

    def checksums():
        if _truthy(get('calico_configure_only')):
            return []
        problems = []
        url = _text(get('calico_calicoctl_url'))
        if not url.startswith('/') and not SHA256_PREFIXED.match(_text(get('calico_calicoctl_checksum'))):
            problems.append("calico_calicoctl_checksum must be 'sha256:<64 hex>' for calicoctl fetched from %s (take "
                            "it from your mirror's release page), or give a local path in calico_calicoctl_url" % url)
        if _truthy(get('calico_install_cni')):
            base = _text(get('calico_cni_url_base'))
            sums = get('calico_cni_checksums')
            good = [v for v in (sums.values() if isinstance(sums, dict) else []) if SHA256_PREFIXED.match(_text(v))]
            if not base.startswith('/') and len(good) != 2:
                problems.append("calico_cni_checksums must give 'sha256:<64 hex>' for calico and calico-ipam fetched "
                                "from %s, or give a local directory in calico_cni_url_base" % base)
        return problems

    return [endpoints, certificates, pools, checksums]


def _bsaas_checks(get):
    def marathon():
        problems = []
        urls = _as_list(get('bsaas_marathon_url'))
        if not urls and not _truthy(get('bsaas_configure_only')):
            problems.append('bsaas_marathon_url is empty: give the Marathon URL(s); site.yml takes them from the '
                            'marathon role when Marathon is deployed with the pool')
        for url in urls:
            if url_problem(url):
                problems.append('bsaas_marathon_url: %r %s; give https://host:port' % (url, url_problem(url)))
        return problems

    def credentials():
        user = _text(get('bsaas_marathon_user'))
        if not user:
            return []
        if _text(get('bsaas_marathon_password_file')):
            return []
        if not _text(get('bsaas_marathon_password')):
            return ["bsaas_marathon_password is missing for user '%s': give marathon_http_password from Vault, or "
                    "bsaas_marathon_password_file (the file the marathon role generates in its credentials "
                    "directory; site.yml hands it over)" % user]
        return []

    def instances():
        value = get('bsaas_instances')
        if not isinstance(value, (list, tuple)):
            return ['bsaas_instances must be a list of pools']
        problems = []
        names = []
        for item in value:
            item = item if isinstance(item, dict) else {}
            name = item.get('name')
            names.append(name)
            try:
                executors_ok = int(item.get('executors', 0)) >= 0
            except (TypeError, ValueError):
                executors_ok = False
            if (not isinstance(name, string_types) or not INSTANCE_NAME.match(name) or not item.get('subnet')
                    or not item.get('submit_host') or not executors_ok):
                problems.append("bsaas_instances entry %s: needs name (lowercase letters, digits, '-'), subnet (a CIDR "
                                "inside a Calico pool), submit_host (the Mesos agent the submitter is pinned to) and "
                                "executors >= 0" % (name or '?'))
        if len(set(str(n) for n in names)) != len(names):
            problems.append('bsaas_instances: two instances share a name; each pool needs its own name (it names its '
                            'network and apps)')
        return problems

    return [marathon, credentials, instances]


def _marathon_checks(get):
    def zookeeper():
        if not _as_list(get('marathon_zookeeper_hosts')):
            return ['marathon_zookeeper_hosts is empty: Marathon keeps its state and elects its leader in ZooKeeper; '
                    'fill the zookeeper inventory group or set marathon_zookeeper_hosts']
        return []

    def tls():
        if _truthy(get('marathon_tls')) and not (_text(get('marathon_tls_cert_src')) and
                                                 _text(get('marathon_tls_key_src'))):
            return ['marathon_tls is true but marathon_tls_cert_src / marathon_tls_key_src are empty: give the PEM '
                    'certificate and key (on the controller) signed by your site CA, or set marathon_tls: false on '
                    'a closed test bed only']
        return []

    def credentials():
        if not _truthy(get('marathon_http_auth')):
            return []
        user = _text(get('marathon_http_user'))
        if not user or ':' in user or ':' in _text(get('marathon_http_password')):
            return ["marathon_http_user must be non-empty and neither marathon_http_user nor marathon_http_password "
                    "may contain ':' (Marathon's --http_credentials is user:password); leave marathon_http_password "
                    "empty to have one generated"]
        return []

    def features():
        try:
            known = _as_list(get('marathon_known_features')) or list(MARATHON_FEATURES)
        except Unknown:
            known = list(MARATHON_FEATURES)
        unknown = [f for f in _as_list(get('marathon_features')) if f not in known]
        if unknown:
            return ['marathon_features has unknown entries %s: Marathon 1.10 knows %s'
                    % (', '.join(str(f) for f in unknown), ', '.join(str(f) for f in known))]
        return []

    def principal():
        if _text(get('marathon_mesos_principal')) and not _text(get('marathon_mesos_secret')):
            return ['marathon_mesos_principal is set but marathon_mesos_secret is empty: give the secret of this '
                    'principal from mesos_framework_credentials (keep it in Ansible Vault)']
        return []

    return [zookeeper, tls, credentials, features, principal]


# The roles' own checks that need no facts. The roles' assert.yml call the same functions (through the
# calico_input_problems / marathon_input_problems / marathon_bsaas_input_problems filters), so the check
# site.yml's preflight runs on the controller and the one a role run alone makes are one piece of code.
ROLE_CHECKS = {'calico': _calico_checks, 'bsaas': _bsaas_checks, 'marathon': _marathon_checks}
ROLE_CHECK_NAMES = {
    'calico': ('calico_etcd_endpoints', 'calico_etcd_ca_file', 'calico_etcd_cert_file', 'calico_etcd_key_file',
               'calico_ip_pools', 'calico_configure_only', 'calico_calicoctl_url', 'calico_calicoctl_checksum',
               'calico_install_cni', 'calico_cni_url_base', 'calico_cni_checksums'),
    'bsaas': ('bsaas_marathon_url', 'bsaas_configure_only', 'bsaas_marathon_user', 'bsaas_marathon_password_file',
              'bsaas_marathon_password', 'bsaas_instances'),
    'marathon': ('marathon_zookeeper_hosts', 'marathon_tls', 'marathon_tls_cert_src', 'marathon_tls_key_src',
                 'marathon_http_auth', 'marathon_http_user', 'marathon_http_password', 'marathon_features',
                 'marathon_mesos_principal', 'marathon_mesos_secret', 'marathon_known_features'),
}


def role_problems(role, values):
    """The role's fact-free checks on ``values`` ({name: value}); a check whose inputs are missing is skipped."""
    checks = ROLE_CHECKS.get(role)
    if checks is None:
        return []
    problems = []
    for check in checks(_Values(values)):
        try:
            problems.extend(check())
        except Unknown:
            continue
    return problems


def _spec_option_named(message, options):
    """The option an ArgumentSpecValidator message is about (the longest option name it contains)."""
    for name in sorted(options, key=len, reverse=True):
        if name in message:
            return name
    return ''


def spec_problems(role, options, values):
    """Ansible's ArgumentSpecValidator on ``values`` against the role's main entry point ``options``.

    Options absent from ``values`` are ones the controller cannot know (they need facts): they are left out
    of the spec rather than reported missing, unless nothing at all sets them (``values`` holds every option
    the inventory, site.yml or the role's defaults set).
    """
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    spec = {}
    for name, option in options.items():
        option = dict(option)
        option.pop('description', None)
        option.pop('version_added', None)
        if name not in values:
            option.pop('default', None)
        spec[name] = option
    provided = dict((name, values[name]) for name in spec if name in values)
    validator = ArgumentSpecValidator(spec)
    try:
        result = validator.validate(provided, validate_role_argument_spec=True)
    except TypeError:  # ansible-core before 2.15 has no validate_role_argument_spec
        result = validator.validate(provided)
    problems = []
    for message in result.error_messages:
        name = _spec_option_named(message, spec)
        fix = ('set %s to what roles/%s/meta/argument_specs.yml describes (ansible-doc -t role htcfarm.bsaas.%s)'
               % (name or 'it', role, role))
        problems.append('role %s: %s; %s' % (role, message, fix))
    return problems


def check_roles(components, interface, resolve):
    """Every enabled component's argument spec and fact-free checks, for every host it runs on, at once.

    ``components``: [(component, [hosts])] of the components site.yml would deploy; ``resolve(host, role,
    names)`` the values that role would see there. Returns {component: [messages]}, one message per distinct
    problem, naming the hosts (as check_inputs does).
    """
    found = OrderedDict()
    for role, hosts in components:
        problems = _Problems()
        options = interface.get('main_specs', {}).get(role, {})
        wanted = set(options) | set(ROLE_CHECK_NAMES.get(role, ()))
        judged = {}
        for host in hosts:
            values = resolve(host, role, sorted(wanted))
            # A resolver may hand many hosts the very same values (one per class of alike hosts): judge them once.
            if id(values) not in judged:
                judged[id(values)] = (values, (spec_problems(role, options, values) if options else []) +
                                      ['role %s: %s' % (role, text) for text in role_problems(role, values)])
            for text in judged[id(values)][1]:
                problems.add(host, text)
        found[role] = problems.lines()
    return found


def role_verdicts(problems, plan):
    """Errors for the components the plan deploys, warnings for those it skips (nothing of theirs changes).

    ``problems``: check_roles' {component: [messages]}; ``plan``: the deploy plan ([{name, deploy, reason}]).
    """
    deploy = dict((step['name'], step) for step in plan or [])
    errors = []
    warnings = []
    for component, lines in (problems or {}).items():
        step = deploy.get(component) or {}
        if step.get('deploy', True):
            errors.extend(lines)
        else:
            warnings.extend('%s (not fatal now: %s is skipped, %s)' % (line, component, step.get('reason', ''))
                            for line in lines)
    return {'errors': errors, 'warnings': warnings}


# ---------------------------------------------------------------------------------------------------------
# One owner per fact: each role declares in its vars/main.yml what it fetches (<role>_fetches: images,
# tarballs and URLs, as {ref, kind, var, archive}) and what it provides to other roles (<role>_provides:
# {consumer role: {once: {var: value}, each: {var: value}, secrets: {var: value}}}). The controller
# resolves them per host with the role's own values; site.yml hands the provisions to the consumers' hosts
# and probes the fetches.
# ---------------------------------------------------------------------------------------------------------

def fetches(components, resolve):
    """What the roles would fetch: [{component, ref, kind, var, archive, hosts}], one entry per artifact."""
    found = OrderedDict()
    for role, hosts in components:
        name = '%s_fetches' % role
        for host in hosts:
            declared = resolve(host, role, [name]).get(name)
            for item in declared if isinstance(declared, (list, tuple)) else []:
                if not isinstance(item, dict) or not item.get('ref'):
                    continue
                entry = {'component': role, 'ref': _text(item['ref']), 'kind': _text(item.get('kind') or 'image'),
                         'var': _text(item.get('var')), 'archive': _text(item.get('archive'))}
                key = (role, entry['ref'], entry['kind'], entry['archive'])
                found.setdefault(key, dict(entry, hosts=[]))['hosts'].append(host)
    return list(found.values())


def provisions(providers, consumers, resolve, inventory_sets):
    """What each consumer host receives from the roles that provide for it: {host: {var: value}}.

    ``providers``: [(role, [hosts])] of the deployed roles; ``consumers``: {role: [hosts]};
    ``inventory_sets(host, name)`` True when the inventory (or -e) sets that variable on that host itself, which
    then wins. ``each`` values are collected over the provider's hosts, in group order; ``once`` values come from
    its first host; ``secrets`` like ``once``, left out when empty.
    """
    handed = {}
    secret_names = set()
    for role, hosts in providers:
        if not hosts:
            continue
        name = '%s_provides' % role
        first = resolve(hosts[0], role, [name]).get(name) or {}
        if not isinstance(first, dict):
            continue
        for consumer, declared in first.items():
            if consumer not in consumers or not isinstance(declared, dict):
                continue
            values = OrderedDict()
            for key, value in (declared.get('once') or {}).items():
                values[key] = value
            for key, value in (declared.get('secrets') or {}).items():
                if _text(value):
                    values[key] = value
                    secret_names.add(key)
            each = declared.get('each') or {}
            if each:
                collected = OrderedDict((key, []) for key in each)
                for host in hosts:
                    own = (resolve(host, role, [name]).get(name) or {}).get(consumer) or {}
                    for key in each:
                        value = (own.get('each') or {}).get(key)
                        if _text(value) and value not in collected[key]:
                            collected[key].append(value)
                values.update(collected)
            for host in consumers[consumer]:
                target = handed.setdefault(host, OrderedDict())
                for key, value in values.items():
                    if not inventory_sets(host, key):
                        target[key] = value
    return handed, sorted(secret_names)
