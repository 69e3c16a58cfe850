# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Multi-site topology of a BSaaS pool: sites, NAT, CCB/shared-port placement and Calico BGP peerings.

The inventory describes sites as groups ``site_<name>``; this module turns the variables those groups
and their hosts carry into, for every host, the HTCondor network placement (CCB, PRIVATE_NETWORK_NAME,
TCP_FORWARDING_HOST, shared port) and the Calico BGP settings (AS number, node-to-node mesh, peers).
It only works on plain dicts and lists, so it runs the same inside a filter, a module or a benchmark,
on Python 3.6 (EL7) as on 3.11.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from collections import OrderedDict

try:
    import netaddr
    HAS_NETADDR = True
    NETADDR_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - exercised only where netaddr is absent
    netaddr = None
    HAS_NETADDR = False
    NETADDR_IMPORT_ERROR = import_error

SITE_GROUP_PREFIX = 'site_'
NAT_MODES = ('none', 'masquerade', 'port_forward')
DEFAULT_SHARED_PORT = 9618
# A full iBGP mesh costs n*(n-1)/2 sessions; past this many nodes a site's nodes peer with its reflectors only.
DEFAULT_FULL_MESH_MAX = 32
# 16-bit and 32-bit private-use AS ranges (RFC 6996); public AS numbers are allowed but warned about.
PRIVATE_AS_RANGES = ((64512, 65534), (4200000000, 4294967294))

CENTRAL_MANAGER_GROUP = 'htcondor_central_managers'
HTCONDOR_GROUPS = ('htcondor_central_managers', 'htcondor_submitters', 'htcondor_executors')

POOL_DEFAULTS = OrderedDict([
    ('bsaas_pool_name', 'bsaas'),
    ('bsaas_use_shared_port', True),
    ('bsaas_shared_port_port', DEFAULT_SHARED_PORT),
    ('bsaas_bgp_full_mesh_max', DEFAULT_FULL_MESH_MAX),
    ('bsaas_condor_host', ''),
])


class TopologyError(Exception):
    """Raised when the topology cannot be computed at all (as opposed to a list of inventory mistakes)."""


def _require_netaddr():
    if not HAS_NETADDR:
        raise TopologyError(
            'the topology needs the Python library netaddr (%s); install it on the controller, '
            'e.g. pip install netaddr' % NETADDR_IMPORT_ERROR)


def _as_list(value):
    if value is None or value == '':
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _to_bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ('1', 'true', 'yes', 'on')


def _parse_ip(value):
    try:
        return netaddr.IPAddress(str(value))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None


def _parse_network(value):
    # A bare address would silently become a /32: a site network must be written as a CIDR.
    if '/' not in str(value):
        return None
    try:
        return netaddr.IPNetwork(str(value))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None


def _parse_as_number(value):
    """AS numbers are integers 1..4294967295, or 'asdot' notation ('1.10' = 65546)."""
    text = str(value).strip()
    try:
        if '.' in text:
            high, low = text.split('.', 1)
            high, low = int(high), int(low)
            if not (0 <= high <= 65535 and 0 <= low <= 65535):
                return None
            number = high * 65536 + low
        else:
            number = int(text)
    except ValueError:
        return None
    if not 1 <= number <= 4294967295:
        return None
    return number


def _is_private_as(number):
    return any(low <= number <= high for low, high in PRIVATE_AS_RANGES)


def pool_settings(any_host_vars, overrides=None):
    """Pool-wide settings (group ``all``), with defaults, read from one host's variables."""
    settings = OrderedDict()
    for name, default in POOL_DEFAULTS.items():
        settings[name] = any_host_vars.get(name, default) if any_host_vars else default
    for name, value in (overrides or {}).items():
        settings[name] = value
    return settings


def _site_groups(groups):
    return sorted(name for name in groups if name.startswith(SITE_GROUP_PREFIX))


def compute_topology(hostvars, groups, overrides=None):
    """Compute sites and per-host network placement; inventory mistakes land in ``errors``, never half-applied.

    ``hostvars`` maps inventory hostname to that host's variables (group_vars merged, as Ansible does);
    ``groups`` maps group name to its hostnames. Returns a dict with ``pool``, ``sites``, ``hosts``,
    ``errors`` and ``warnings``.
    """
    _require_netaddr()
    errors = []
    warnings = []
    all_hosts = sorted(set(h for g, members in groups.items() if g not in ('all', 'ungrouped') for h in members)
                       | set(groups.get('all', [])))
    first_vars = hostvars.get(all_hosts[0], {}) if all_hosts else {}
    pool = pool_settings(first_vars, overrides)
    shared_port_port = _parse_port(pool['bsaas_shared_port_port'])
    if shared_port_port is None:
        errors.append('bsaas_shared_port_port=%r is not a TCP port; set it to 1-65535 (HTCondor uses 9618)'
                      % (pool['bsaas_shared_port_port'],))
        shared_port_port = DEFAULT_SHARED_PORT
    use_shared_port = _to_bool(pool['bsaas_use_shared_port'])
    try:
        full_mesh_max = int(pool['bsaas_bgp_full_mesh_max'])
    except (TypeError, ValueError):
        errors.append('bsaas_bgp_full_mesh_max=%r is not an integer; set it to the largest site that may run '
                      'a full iBGP mesh (default %d)' % (pool['bsaas_bgp_full_mesh_max'], DEFAULT_FULL_MESH_MAX))
        full_mesh_max = DEFAULT_FULL_MESH_MAX

    sites = _collect_sites(hostvars, groups, errors, warnings)
    host_site = _assign_hosts(all_hosts, sites, errors)
    hosts = OrderedDict()
    for host in all_hosts:
        if host in host_site:
            hosts[host] = _host_addressing(host, hostvars.get(host, {}), sites[host_site[host]], errors)

    _check_sites_apart(sites, errors)
    _check_unique_addresses(hosts, errors)
    _check_port_forwarding(sites, hosts, shared_port_port, errors)
    _pick_route_reflectors(sites, hosts, hostvars, errors)

    central_managers = [h for h in groups.get(CENTRAL_MANAGER_GROUP, []) if h in hosts]
    condor_hosts = [h for g in HTCONDOR_GROUPS for h in groups.get(g, []) if h in hosts]
    if condor_hosts and not central_managers:
        errors.append('hosts are in the HTCondor groups but group %s is empty; add the central manager host '
                      '(collector and negotiator) to it' % CENTRAL_MANAGER_GROUP)
    _check_ccb_brokers(sites, hosts, central_managers, errors)

    # CCB joins a hidden daemon to a reachable one, never two hidden ones: a NATed submitter can only
    # run jobs on executors of its own site.
    hidden_submitters = [h for h in groups.get('htcondor_submitters', []) if h in hosts and
                         not hosts[h]['reachable_address']]
    for schedd in hidden_submitters:
        stranded = sorted(h for h in groups.get('htcondor_executors', []) if h in hosts and
                          not hosts[h]['reachable_address'] and hosts[h]['site'] != hosts[schedd]['site'])
        if stranded:
            warnings.append('submitter %s and executors %s are behind NAT at different sites: CCB cannot join them, '
                            'so their jobs never run there; put the submitter at a routed site or forward its port'
                            % (schedd, ', '.join(stranded)))

    multi_site = len([s for s in sites.values() if s['hosts']]) > 1
    if multi_site:
        _check_nat_gateways(sites, hosts, errors)
    for name, host in hosts.items():
        site = sites[host['site']]
        host['central_manager'] = name in central_managers
        host['htcondor'] = _htcondor_placement(name, host, site, hosts, central_managers, pool,
                                               use_shared_port, shared_port_port)
        host['calico'] = _calico_placement(name, host, site, sites, hosts, multi_site, full_mesh_max)

    if multi_site:
        for site in sites.values():
            if site['nat'] != 'none' and site['hosts']:
                warnings.append(
                    'site %s is behind NAT (%s): HTCondor reaches it through CCB, but Calico IP-in-IP between '
                    'sites needs the site gateway to forward protocol 4 (or a VPN) to %s'
                    % (site['name'], site['nat'], site['public_address'] or 'the site'))

    for site in sites.values():
        # Plain strings out: the result travels through Ansible variables and JSON.
        site['private_networks'] = [str(net) for net in site['private_networks']]
        site['calico_pool'] = str(site['calico_pool']) if site['calico_pool'] else ''
    return OrderedDict([
        ('pool', pool),
        ('multi_site', multi_site),
        ('sites', sites),
        ('hosts', hosts),
        ('central_managers', central_managers),
        ('submitters', [h for h in groups.get('htcondor_submitters', []) if h in hosts]),
        ('errors', errors),
        ('warnings', warnings),
    ])


def _parse_port(value):
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None
    return port if 1 <= port <= 65535 else None


def _collect_sites(hostvars, groups, errors, warnings):
    sites = OrderedDict()
    for group in _site_groups(groups):
        members = sorted(groups.get(group) or [])
        default_name = group[len(SITE_GROUP_PREFIX):]
        # Group variables are read through any member; a site group without hosts has nothing to deploy.
        site_vars = hostvars.get(members[0], {}) if members else {}
        name = str(site_vars.get('bsaas_site_name', default_name) or default_name)
        site = OrderedDict([
            ('name', name), ('group', group), ('hosts', members), ('as_number', None),
            ('nat', 'none'), ('public_address', ''), ('private_networks', []), ('calico_pool', ''),
            ('route_reflectors', []), ('requested_route_reflectors', []),
        ])
        if not members:
            warnings.append('site group %s has no hosts; it is ignored' % group)
            sites[group] = site
            continue
        for member in members[1:]:
            member_vars = hostvars.get(member, {})
            if 'bsaas_site_name' not in member_vars:
                continue
            other = str(member_vars['bsaas_site_name'] or default_name)
            if other != name:
                errors.append('hosts of group %s disagree on bsaas_site_name (%s has %r, %s has %r); set '
                              'bsaas_site_name in group_vars/%s.yml, not per host' % (
                                  group, members[0], name, member, other, group))
                break
        as_number = _parse_as_number(site_vars.get('bsaas_site_as_number', ''))
        if as_number is None:
            errors.append('site %s: bsaas_site_as_number=%r is not a valid AS number; set it in group_vars/%s.yml '
                          'to a private AS (64512-65534 or 4200000000-4294967294), one per site'
                          % (name, site_vars.get('bsaas_site_as_number'), group))
        elif not _is_private_as(as_number):
            warnings.append('site %s uses public AS %d; make sure it is yours, or use a private AS (64512-65534)'
                            % (name, as_number))
        site['as_number'] = as_number
        nat = str(site_vars.get('bsaas_site_nat', 'none') or 'none')
        if nat not in NAT_MODES:
            errors.append('site %s: bsaas_site_nat=%r is not one of %s; say how the site reaches the others'
                          % (name, nat, ', '.join(NAT_MODES)))
            nat = 'none'
        site['nat'] = nat
        public = site_vars.get('bsaas_site_public_address', '') or ''
        if public and _parse_ip(public) is None:
            errors.append('site %s: bsaas_site_public_address=%r is not an IP address; set the address the '
                          'site NAT gateway shows to the other sites' % (name, public))
            public = ''
        site['public_address'] = str(public)
        networks = []
        for cidr in _as_list(site_vars.get('bsaas_site_private_networks')):
            network = _parse_network(cidr)
            if network is None:
                errors.append('site %s: %r in bsaas_site_private_networks is not a CIDR network (e.g. 10.1.0.0/16)'
                              % (name, cidr))
            else:
                networks.append(network)
        site['private_networks'] = networks
        pool_cidr = site_vars.get('bsaas_site_calico_pool', '') or ''
        if pool_cidr:
            pool_network = _parse_network(pool_cidr)
            if pool_network is None:
                errors.append('site %s: bsaas_site_calico_pool=%r is not a CIDR network; give the Calico IP pool '
                              'of the site, e.g. 192.168.16.0/20' % (name, pool_cidr))
            else:
                site['calico_pool'] = pool_network
        site['requested_route_reflectors'] = _as_list(site_vars.get('bsaas_site_route_reflectors'))
        sites[group] = site
    return sites


def _assign_hosts(all_hosts, sites, errors):
    host_site = {}
    for host in all_hosts:
        member_of = [group for group, site in sites.items() if host in site['hosts']]
        if not member_of:
            errors.append('host %s is in no site group; add it to exactly one site_<name> group in the inventory'
                          % host)
        elif len(member_of) > 1:
            errors.append('host %s is in several sites (%s); a host belongs to exactly one site_<name> group'
                          % (host, ', '.join(member_of)))
        else:
            host_site[host] = member_of[0]
    return host_site


def _host_addressing(name, host_vars, site, errors):
    private = host_vars.get('bsaas_private_address') or host_vars.get('ansible_host') or name
    private_ip = _parse_ip(private)
    if private_ip is None:
        errors.append('host %s: bsaas_private_address=%r is not an IP address; set it (or ansible_host) to the '
                      'address the host has inside site %s' % (name, private, site['name']))
    elif site['private_networks'] and not any(private_ip in net for net in site['private_networks']):
        errors.append('host %s: address %s is outside the networks of site %s (%s); fix bsaas_private_address '
                      'or bsaas_site_private_networks' % (
                          name, private_ip, site['name'], ', '.join(str(n) for n in site['private_networks'])))
    public = host_vars.get('bsaas_public_address') or ''
    if public and _parse_ip(public) is None:
        errors.append('host %s: bsaas_public_address=%r is not an IP address; set the address other sites use to '
                      'reach this host, or leave it empty' % (name, public))
        public = ''
    if public:
        reachable = str(public)
    elif site['nat'] == 'none':
        reachable = str(private_ip) if private_ip is not None else ''
    else:
        # Behind NAT without a forwarded port: nothing outside the site can open a connection to it.
        reachable = ''
    return OrderedDict([
        ('site', site['group']),
        ('site_name', site['name']),
        ('as_number', site['as_number']),
        ('nat', site['nat']),
        ('private_address', str(private_ip) if private_ip is not None else ''),
        ('public_address', str(public)),
        ('reachable_address', reachable),
    ])


def _check_sites_apart(sites, errors):
    named = [s for s in sites.values() if s['hosts']]
    seen_names = {}
    seen_as = {}
    for site in named:
        if site['name'] in seen_names:
            errors.append('groups %s and %s both use bsaas_site_name %r; site names must be unique because they '
                          'become PRIVATE_NETWORK_NAME' % (seen_names[site['name']], site['group'], site['name']))
        seen_names[site['name']] = site['group']
        if site['as_number'] is not None:
            if site['as_number'] in seen_as:
                errors.append('sites %s and %s both use AS %d; every site is its own autonomous system, give each '
                              'a distinct bsaas_site_as_number' % (seen_as[site['as_number']], site['name'],
                                                                   site['as_number']))
            else:
                seen_as[site['as_number']] = site['name']
    for site in named:
        for net in site['private_networks']:
            if site['calico_pool'] and _overlap(net, site['calico_pool']):
                errors.append('site %s: Calico pool %s overlaps its own network %s; container addresses would '
                              'clash with host addresses, so pick a bsaas_site_calico_pool outside '
                              'bsaas_site_private_networks' % (site['name'], site['calico_pool'], net))
    for index, site in enumerate(named):
        for other in named[index + 1:]:
            if site['calico_pool'] and other['calico_pool'] and _overlap(site['calico_pool'], other['calico_pool']):
                errors.append('Calico pools of sites %s (%s) and %s (%s) overlap; container addresses are routed '
                              'between sites, so give each site a disjoint bsaas_site_calico_pool'
                              % (site['name'], site['calico_pool'], other['name'], other['calico_pool']))
            # Private address space may repeat behind NAT, but two routed sites sharing it cannot reach each other.
            if site['nat'] == 'none' and other['nat'] == 'none':
                for net in site['private_networks']:
                    for other_net in other['private_networks']:
                        if _overlap(net, other_net):
                            errors.append('sites %s and %s are both routed (bsaas_site_nat: none) but their networks '
                                          '%s and %s overlap; renumber one, or declare the site NATed'
                                          % (site['name'], other['name'], net, other_net))
            for net in site['private_networks'] + ([site['calico_pool']] if site['calico_pool'] else []):
                if other['calico_pool'] and _overlap(net, other['calico_pool']) and net is not site['calico_pool']:
                    errors.append('site %s network %s overlaps the Calico pool %s of site %s; pick a pool outside '
                                  'every site network' % (site['name'], net, other['calico_pool'], other['name']))
            for net in other['private_networks']:
                if site['calico_pool'] and _overlap(net, site['calico_pool']):
                    errors.append('site %s network %s overlaps the Calico pool %s of site %s; pick a pool outside '
                                  'every site network' % (other['name'], net, site['calico_pool'], site['name']))


def _check_unique_addresses(hosts, errors):
    """One address, one host: inside a site, and between routed sites (NATed sites may reuse private space)."""
    by_address = OrderedDict()
    for name, host in hosts.items():
        if host['private_address']:
            by_address.setdefault(host['private_address'], []).append(name)
    for address, names in by_address.items():
        for index, first in enumerate(names):
            for second in names[index + 1:]:
                a, b = hosts[first], hosts[second]
                if a['site'] == b['site'] or (a['nat'] == 'none' and b['nat'] == 'none'):
                    errors.append('hosts %s and %s both have address %s (site %s%s); give each host its own '
                                  'bsaas_private_address (or ansible_host)' % (
                                      first, second, address, a['site_name'],
                                      '' if a['site'] == b['site'] else ' and site %s' % b['site_name']))
    by_public = OrderedDict()
    for name, host in hosts.items():
        # Behind port forwarding one gateway address serves several hosts (checked per port below).
        if host['public_address'] and host['nat'] == 'none':
            by_public.setdefault(host['public_address'], []).append(name)
    for address, names in by_public.items():
        if len(names) > 1:
            errors.append('hosts %s all have bsaas_public_address %s at routed sites; give each host its own '
                          'public address, or leave it empty' % (', '.join(names), address))


def _check_nat_gateways(sites, hosts, errors):
    """A NATed site peers over eBGP through its gateway address; without one the session comes up one way only."""
    for site in sites.values():
        if site['nat'] == 'none' or not site['hosts'] or site['public_address']:
            continue
        if any(hosts[h]['reachable_address'] for h in site['route_reflectors'] if h in hosts):
            continue
        errors.append('site %s is NATed (%s) but has no bsaas_site_public_address: the other sites cannot open its '
                      'BGP sessions, so routes flow one way only; set bsaas_site_public_address in group_vars/%s.yml '
                      'to the address its NAT gateway shows to the other sites' % (
                          site['name'], site['nat'], site['group']))


def _overlap(first, second):
    return first.first <= second.last and second.first <= first.last


def _check_port_forwarding(sites, hosts, shared_port_port, errors):
    """Behind one public address only one host can receive the forwarded shared port."""
    forwarded = {}
    for name, host in hosts.items():
        if host['nat'] == 'none' or not host['public_address']:
            continue
        key = (host['public_address'], shared_port_port)
        if key in forwarded:
            errors.append('hosts %s and %s both expect %s:%d forwarded to them; one public address forwards a port '
                          'to one host, so clear bsaas_public_address on one (it will use CCB instead)'
                          % (forwarded[key], name, key[0], key[1]))
        else:
            forwarded[key] = name
    for site in sites.values():
        if site['nat'] == 'port_forward' and not any(
                hosts[h]['public_address'] for h in site['hosts'] if h in hosts):
            errors.append('site %s says bsaas_site_nat: port_forward but no host in it has bsaas_public_address; set '
                          'it on the hosts whose port %d is forwarded, or use bsaas_site_nat: masquerade'
                          % (site['name'], shared_port_port))


def _pick_route_reflectors(sites, hosts, hostvars, errors):
    for site in sites.values():
        members = [h for h in site['hosts'] if h in hosts]
        if not members:
            continue
        requested = site['requested_route_reflectors']
        strangers = [h for h in requested if h not in members]
        if strangers:
            errors.append('site %s: bsaas_site_route_reflectors names %s, which %s not in group %s; pick reflectors '
                          'among the site hosts' % (site['name'], ', '.join(strangers),
                                                    'is' if len(strangers) == 1 else 'are', site['group']))
        chosen = [h for h in requested if h in members]
        if not chosen:
            # Default: the first host that other sites can reach (eBGP needs an inbound path), else the first host.
            reachable = [h for h in members if hosts[h]['reachable_address']]
            chosen = [(reachable or members)[0]]
        site['route_reflectors'] = chosen


def _check_ccb_brokers(sites, hosts, central_managers, errors):
    """Every site must reach a CCB broker (the collector): in the site itself, or reachable from outside."""
    if not central_managers:
        return
    for site in sites.values():
        if not site['hosts']:
            continue
        local = [cm for cm in central_managers if hosts[cm]['site'] == site['group']]
        remote = [cm for cm in central_managers if hosts[cm]['site'] != site['group'] and
                  hosts[cm]['reachable_address']]
        if local or remote:
            continue
        if site['nat'] != 'none':
            errors.append('site %s is NATed (%s) and cannot reach any CCB broker: every central manager (%s) sits '
                          'behind NAT in another site; put a central manager in a routed site or give one a '
                          'bsaas_public_address with port %s forwarded' % (
                              site['name'], site['nat'], ', '.join(central_managers), 'the shared'))
        else:
            errors.append('site %s cannot reach any central manager: %s sits behind NAT without a forwarded port; '
                          'give it a bsaas_public_address or move it to a routed site'
                          % (site['name'], ', '.join(central_managers)))


def _central_manager_addresses(host, hosts, central_managers):
    """(central manager, address seen from ``host``): private inside its site, reachable from elsewhere."""
    addresses = []
    for cm in central_managers:
        cm_host = hosts[cm]
        if cm_host['site'] == host['site']:
            addresses.append((cm, cm_host['private_address']))
        elif cm_host['reachable_address']:
            addresses.append((cm, cm_host['reachable_address']))
    return addresses


def _htcondor_placement(name, host, site, hosts, central_managers, pool, use_shared_port, shared_port_port):
    cm_addresses = _central_manager_addresses(host, hosts, central_managers)
    collectors = [address for _cm, address in cm_addresses]
    condor_host = pool['bsaas_condor_host'] or (collectors[0] if collectors else '')
    if collectors and use_shared_port and shared_port_port != DEFAULT_SHARED_PORT:
        collectors = ['%s:%d' % (address, shared_port_port) for address in collectors]
    behind_nat = site['nat'] != 'none'
    forwarded = behind_nat and bool(host['public_address'])
    # A host that nothing outside its site can connect to registers with the collector's CCB; the collector
    # itself is the broker and needs no CCB.
    needs_ccb = behind_nat and not forwarded and name not in central_managers
    return OrderedDict([
        ('condor_host', condor_host),
        ('central_manager_addresses', cm_addresses),
        ('collector_host', ', '.join(collectors)),
        ('ccb_address', '$(COLLECTOR_HOST)' if needs_ccb else ''),
        ('private_network_name', '%s.%s' % (site['name'], pool['bsaas_pool_name'])),
        ('tcp_forwarding_host', host['public_address'] if forwarded else ''),
        ('use_shared_port', use_shared_port),
        ('shared_port_port', shared_port_port),
    ])


def _calico_placement(name, host, site, sites, hosts, multi_site, full_mesh_max):
    if not multi_site:
        # One site: Calico's global node-to-node mesh is exactly "mesh in a site", no explicit peers.
        return OrderedDict([
            ('as_number', host['as_number']), ('node_to_node_mesh', True), ('route_reflector', False),
            ('bgp_peers', []), ('ip_pool', str(site['calico_pool']) if site['calico_pool'] else ''),
        ])
    members = [h for h in site['hosts'] if h in hosts]
    reflectors = site['route_reflectors']
    is_reflector = name in reflectors
    peers = []
    if len(members) <= full_mesh_max:
        in_site = [h for h in members if h != name]
    elif is_reflector:
        in_site = [h for h in members if h != name]
    else:
        in_site = [h for h in reflectors if h != name]
    for other in in_site:
        peers.append(_bgp_peer(name, other, hosts[other]['private_address'], site['as_number'], 'ibgp'))
    if is_reflector:
        for other_site in sites.values():
            if other_site is site or not other_site['hosts']:
                continue
            for other in other_site['route_reflectors']:
                address = hosts[other]['reachable_address'] or other_site['public_address']
                if address:
                    peers.append(_bgp_peer(name, other, address, other_site['as_number'], 'ebgp'))
    return OrderedDict([
        ('as_number', host['as_number']), ('node_to_node_mesh', False), ('route_reflector', is_reflector),
        ('bgp_peers', peers), ('ip_pool', str(site['calico_pool']) if site['calico_pool'] else ''),
    ])


def _bgp_peer(node, peer_host, peer_ip, as_number, kind):
    """One node-scoped calicoctl v1 bgpPeer (metadata.scope/node/peerIP, spec.asNumber)."""
    return OrderedDict([
        ('scope', 'node'), ('node', node), ('peer_ip', peer_ip), ('as_number', as_number),
        ('peer_host', peer_host), ('session', kind),
    ])


def host_placement(topology, host):
    try:
        return topology['hosts'][host]
    except KeyError:
        raise TopologyError('host %s is not part of the computed topology; is it in a site_<name> group?' % host)


def host_variables(topology, host):
    """The role inputs site.yml sets on ``host``: htcondor_* network placement and calico_* BGP settings."""
    placement = host_placement(topology, host)
    condor = placement['htcondor']
    calico = placement['calico']
    return OrderedDict([
        ('htcondor_site_inbound_reachable', bool(placement['reachable_address'])),
        ('htcondor_central_manager_names', OrderedDict(condor['central_manager_addresses'])),
        ('htcondor_ccb_address', condor['ccb_address']),
        ('htcondor_private_network_name', condor['private_network_name']),
        ('htcondor_tcp_forwarding_host', condor['tcp_forwarding_host']),
        ('htcondor_use_shared_port', condor['use_shared_port']),
        ('htcondor_shared_port_port', condor['shared_port_port']),
        ('calico_as_number', calico['as_number']),
        ('calico_node_to_node_mesh', calico['node_to_node_mesh']),
        ('calico_bgp_peers', calico['bgp_peers']),
    ])


# The keys of the htcondor role's htcondor__settings (roles/htcondor/vars/main.yml) besides pool_domain,
# with the role's defaults (roles/htcondor/defaults/main.yml); the unit tests keep the two in step.
HTCONDOR_ROLE_DEFAULTS = OrderedDict([
    ('pool_name', ''),
    ('central_manager_names', {}),
    ('ccb_address', ''),
    ('private_network_name', ''),
    ('tcp_forwarding_host', ''),
    ('use_shared_port', True),
    ('shared_port_port', DEFAULT_SHARED_PORT),
    ('ccb_heartbeat_interval', 300),
    ('auth_methods', ['FS', 'IDTOKENS']),
    ('token_dir', '/etc/condor/tokens.d'),
    ('collector_max_file_descriptors', 20000),
    ('slot_type', '100%'),
    ('had_port', 51450),
    ('replication_port', 41450),
    ('extra_knobs', {}),
    ('security_policy', 'auto'),
    ('job_identity', 'slot_users'),
])
# Settings the role derives rather than reads from one variable: the version (read on the host;
# empty means the newest behaviour) and the slot accounts (htcondor_slot_user_prefix, one per CPU).
HTCONDOR_DERIVED_SETTINGS = ('version', 'slot_users')


def role_settings(inputs, pool_domain, overrides=None):
    """The settings the htcondor role hands condor.host_fragments, built from a host's htcondor_* variables.

    ``inputs`` are the host's role variables (for instance one host of bsaas_topology_inputs); the keys
    it lacks take the role's defaults, and ``overrides`` (keys without the htcondor_ prefix) come last.
    Outside Ansible this is how checks and benchmarks produce exactly the config.d the role writes.
    """
    settings = OrderedDict([('pool_domain', pool_domain)])
    for key, default in HTCONDOR_ROLE_DEFAULTS.items():
        name = 'htcondor_' + key
        settings[key] = inputs[name] if name in inputs else copy.deepcopy(default)
    settings['version'] = inputs.get('htcondor_version', '')
    prefix = inputs.get('htcondor_slot_user_prefix', 'bsaas-slot')
    settings['slot_users'] = ['%s%d' % (prefix, n) for n in range(1, int(inputs.get('htcondor_slot_user_count') or 1) + 1)]
    for key, value in (overrides or {}).items():
        settings[key] = value
    return settings


def htcondor_settings(topology, host, pool_domain, overrides=None):
    """role_settings for ``host`` with the inputs the topology gives it (host_variables)."""
    return role_settings(host_variables(topology, host), pool_domain, overrides)


def summary_lines(topology):
    """One line per site for the preflight and final reports."""
    lines = []
    for site in topology['sites'].values():
        if not site['hosts']:
            continue
        lines.append('site %s: AS %s, NAT %s%s, %d hosts, route reflector(s) %s' % (
            site['name'], site['as_number'], site['nat'],
            (' via ' + site['public_address']) if site['public_address'] else '',
            len(site['hosts']), ', '.join(site['route_reflectors'])))
    return lines


# ---------------------------------------------------------------------------------------------------------------
# Deployment plan: which component site.yml deploys, where, and why not.

def _pattern_members(pattern, groups):
    members = []
    for group in str(pattern).split(':'):
        for host in groups.get(group, []) or []:
            if host not in members:
                members.append(host)
    return members


def _probe_verdict(result):
    """(component, artifact label, reachable?, why) from one uri or stat loop result of the preflight."""
    item = result.get('item') or {}
    component = item.get('component', '?')
    artifact = item.get('artifact') or {}
    if result.get('skipped'):
        return None
    if 'url' in artifact:
        label = artifact['url']
        status = result.get('status', -1)
        try:
            status = int(status)
        except (TypeError, ValueError):
            status = -1
        # 401/403: a registry that wants credentials is reachable; the pull itself authenticates.
        if 200 <= status < 400 or status in (401, 403):
            return component, label, True, ''
        if status <= 0:
            return component, label, False, 'unreachable (%s)' % (result.get('msg') or 'no answer')
        return component, label, False, 'HTTP %d' % status
    label = artifact.get('path', '?')
    stat = result.get('stat') or {}
    if not stat.get('exists'):
        return component, label, False, 'not found on the controller'
    wanted = artifact.get('sha256')
    if wanted and stat.get('checksum') and stat.get('checksum') != str(wanted).lower():
        return component, label, False, 'sha256 mismatch (got %s)' % stat.get('checksum')
    return component, label, True, ''


def deploy_plan(table, components, groups, htcondor_mode, probe_results=(), roles_present=None):
    """Decide, in layer order, which components to deploy; every skip carries a reason a site admin can act on."""
    unreachable = {}
    for result in probe_results or []:
        verdict = _probe_verdict(result)
        if verdict and not verdict[2]:
            unreachable.setdefault(verdict[0], []).append('%s: %s' % (verdict[1], verdict[3]))
    plan = []
    by_name = {}
    for entry in table:
        name = entry['name']
        settings = components.get(name) or {}
        members = _pattern_members(entry['hosts'], groups)
        reason = ''
        if entry.get('mode') and entry['mode'] != htcondor_mode:
            reason = 'HTCondor runs %s (bsaas_htcondor_mode); this component serves the %s mode' % (
                htcondor_mode, entry['mode'])
        elif not _to_bool(settings.get('enabled', True)):
            reason = 'disabled in bsaas_components.%s.enabled' % name
        elif roles_present is not None and name not in roles_present:
            reason = 'role %s is not in this version of the collection' % entry['role']
        elif not members:
            reason = 'no hosts in inventory group(s) %s' % entry['hosts']
        else:
            # Both can be true at once; an admin fixing one should learn about the other in the same run.
            reasons = []
            if name in unreachable:
                reasons.append('artifacts not reachable: %s' % '; '.join(unreachable[name]))
            missing = [need for need in entry.get('needs', []) if need in by_name and not by_name[need]['deploy']]
            if missing:
                reasons.append('needs %s, which is not deployed' % ', '.join(missing))
            reason = '; '.join(reasons)
        step = OrderedDict([
            ('name', name), ('layer', entry['layer']), ('role', entry['role']), ('hosts', entry['hosts']),
            ('members', members), ('deploy', not reason), ('reason', reason),
        ])
        plan.append(step)
        by_name[name] = step
    return plan


def plan_report(plan, topology, submitter_ssh_port=22):
    """Lines for the end of site.yml: what went where, what did not and why, and how users get in."""
    lines = []
    layers = []
    for step in plan:
        if step['layer'] not in layers:
            layers.append(step['layer'])
    for layer in layers:
        steps = [s for s in plan if s['layer'] == layer]
        done = [s for s in steps if s['deploy']]
        state = 'deployed' if len(done) == len(steps) else ('partly deployed' if done else 'NOT deployed')
        lines.append('layer %s: %s' % (layer, state))
        for step in steps:
            if step['deploy']:
                lines.append('  + %-16s on %s' % (step['name'], ', '.join(step['members'])))
            else:
                lines.append('  - %-16s skipped: %s' % (step['name'], step['reason']))
    htcondor = [s for s in plan if s['name'] in ('htcondor', 'bsaas') and s['deploy']]
    submitters = list(topology.get('submitters', []))
    if htcondor and submitters:
        for host in submitters:
            placement = topology['hosts'].get(host, {})
            address = placement.get('reachable_address') or placement.get('private_address') or host
            lines.append('users reach the submitter %s with: ssh -p %s <user>@%s  (then condor_submit / condor_q)'
                         % (host, submitter_ssh_port, address))
    elif submitters:
        lines.append('users cannot reach a submitter yet: HTCondor was not deployed (see the application layer)')
    else:
        lines.append('no submitter in the inventory: add a host to group htcondor_submitters')
    return lines
