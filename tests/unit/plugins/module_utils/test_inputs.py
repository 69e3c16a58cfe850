# -*- coding: utf-8 -*-
"""Preflight input checks (module_utils/inputs.py) on plain inventories; Python 3.6 and 3.11."""
from __future__ import absolute_import, division, print_function

import os

import pytest
import yaml

from ansible_collections.htcfarm.bsaas.plugins.module_utils import inputs
from ansible_collections.htcfarm.bsaas.plugins.module_utils import topology as topo

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


@pytest.fixture(scope='module')
def interface():
    return inputs.scan_collection(REPO, yaml.safe_load)


@pytest.fixture(scope='module')
def component_defaults():
    with open(os.path.join(REPO, 'playbooks', 'vars', 'components.yml')) as handle:
        return yaml.safe_load(handle)['bsaas_component_defaults']


def pool_inventory(all_vars=None, site_vars=None, host_vars=None):
    """Two routed sites: a central manager, a submitter, an etcd trio and two executors."""
    sites = {
        'site_a': ({'bsaas_site_as_number': 64601, 'bsaas_site_nat': 'none',
                    'bsaas_site_private_networks': ['10.1.0.0/16'], 'bsaas_site_calico_pool': '192.168.0.0/20'},
                   {'a1': '10.1.0.1', 'a2': '10.1.0.2', 'a3': '10.1.0.3'}),
        'site_b': ({'bsaas_site_as_number': 64602, 'bsaas_site_nat': 'none',
                    'bsaas_site_private_networks': ['10.2.0.0/16'], 'bsaas_site_calico_pool': '192.168.16.0/20'},
                   {'b1': '10.2.0.1'}),
    }
    groups = {'all': [], 'etcd': ['a1', 'a2', 'a3'], 'htcondor_central_managers': ['a1'],
              'htcondor_submitters': ['a2'], 'htcondor_executors': ['a3', 'b1']}
    hostvars = {}
    base = {'htcondor_pool_domain': 'pool.example.org'}
    base.update(all_vars or {})
    for group, (group_vars, hosts) in sorted(sites.items()):
        groups[group] = sorted(hosts)
        for host, address in sorted(hosts.items()):
            merged = dict(base)
            merged.update(group_vars)
            merged.update((site_vars or {}).get(group, {}))
            merged['ansible_host'] = address
            merged.update((host_vars or {}).get(host, {}))
            hostvars[host] = merged
            groups['all'].append(host)
    return hostvars, groups


def check(interface, component_defaults, hostvars, groups, pool=None, strict=False, raw=None):
    topology = topo.compute_topology(hostvars, groups)
    return inputs.check_inputs(hostvars, groups, interface, component_defaults, pool=pool, topology=topology,
                               strict=strict, raw_hostvars=raw)


def one(messages, *fragments):
    found = [m for m in messages if all(f in m for f in fragments)]
    assert found, messages
    return found[0]


def test_the_known_names_come_from_the_collection(interface):
    assert interface['prefixes'] == ['bsaas_', 'calico_', 'common_', 'docker_', 'etcd_', 'htcondor_', 'lark_',
                                     'marathon_', 'mesos_', 'perfsonar_', 'zookeeper_']
    known = set(interface['known'])
    # Role defaults, argument specs, pool-wide variables read by the playbooks and plugins.
    assert {'zookeeper_client_port', 'htcondor_pool_domain', 'bsaas_submitter_ssh_port', 'bsaas_site_nat',
            'bsaas_pool_name', 'bsaas_strict_variables', 'lark_networks', 'perfsonar_ingest_archive_url'} <= known
    assert 'bsaas_site_natt' not in known and 'bsaas_pool_nmae' not in known
    assert interface['specs']['zookeeper_client_port']['role'] == 'zookeeper'


def test_clean_pool_has_no_findings(interface, component_defaults):
    hostvars, groups = pool_inventory()
    assert check(interface, component_defaults, hostvars, groups) == {'errors': [], 'warnings': []}


def test_typos_are_warned_with_the_closest_name_once_for_all_hosts(interface, component_defaults):
    hostvars, groups = pool_inventory(all_vars={'bsaas_pool_nmae': 'atlas'},
                                      site_vars={'site_b': {'bsaas_site_natt': 'masquerade'}})
    result = check(interface, component_defaults, hostvars, groups)
    assert result['errors'] == []
    pool_name = one(result['warnings'], 'bsaas_pool_nmae', 'did you mean bsaas_pool_name?')
    assert pool_name.startswith('hosts a1, a2, a3, b1: ')
    assert one(result['warnings'], 'host b1: bsaas_site_natt', 'did you mean bsaas_site_nat?')


def test_strict_switch_turns_unknown_names_into_errors(interface, component_defaults):
    hostvars, groups = pool_inventory(all_vars={'bsaas_pool_nmae': 'atlas'})
    result = check(interface, component_defaults, hostvars, groups, pool={'bsaas_strict_variables': True})
    assert result['warnings'] == []
    assert one(result['errors'], 'bsaas_pool_nmae', 'bsaas_pool_name')
    result = check(interface, component_defaults, hostvars, groups, pool={'bsaas_strict_variables': 'yes please'})
    assert one(result['errors'], 'bsaas_strict_variables', 'true or false')


def test_names_the_inventory_templates_read_are_known(interface, component_defaults):
    hostvars, groups = pool_inventory(all_vars={'bsaas_mirror_root': '/srv/mirror',
                                                'htcondor_tarball_src': '{{ bsaas_mirror_root }}/condor.tgz'})
    assert check(interface, component_defaults, hostvars, groups)['warnings'] == []


@pytest.mark.parametrize('components, expected', [
    (['lark', 'htcondor'], 'bsaas_components is a list'),
    ({'lark': {'enable': False}}, 'bsaas_components.lark.enable is not a component setting (did you mean enabled?)'),
    ({'lark': {'enabled': 'maybe'}}, "bsaas_components.lark.enabled='maybe' is not a boolean"),
    ({'htcondr': {'enabled': True}}, 'bsaas_components.htcondr is not a component of this collection '
                                     '(did you mean htcondor?)'),
    ({'mesos': {'artifacts': 'https://x.example/m.tar'}}, 'bsaas_components.mesos.artifacts is'),
    ({'mesos': {'artifacts': [{'url': 'https://'}]}}, "url 'https://' names no host"),
])
def test_components_are_checked_without_crashing(interface, component_defaults, components, expected):
    hostvars, groups = pool_inventory()
    result = check(interface, component_defaults, hostvars, groups, pool={'bsaas_components': components})
    message = one(result['errors'], expected)
    assert message.endswith('Fix group_vars/all.yml.')


def test_pool_choices_are_checked(interface, component_defaults):
    hostvars, groups = pool_inventory()
    result = check(interface, component_defaults, hostvars, groups,
                   pool={'bsaas_htcondor_mode': 'mesos', 'bsaas_preflight_probe_timeout': 0})
    one(result['errors'], "bsaas_htcondor_mode='mesos' is not one of native, marathon")
    one(result['errors'], 'bsaas_preflight_probe_timeout=0')


@pytest.mark.parametrize('domain, expected', [
    ('', "htcondor_pool_domain is empty ('')"),
    ('   ', 'htcondor_pool_domain is empty'),
    (None, 'htcondor_pool_domain is empty (None)'),
    ('my pool', "htcondor_pool_domain='my pool' is not a DNS domain"),
])
def test_pool_domain_must_be_a_domain(interface, component_defaults, domain, expected):
    hostvars, groups = pool_inventory(all_vars={'htcondor_pool_domain': domain})
    message = one(check(interface, component_defaults, hostvars, groups)['errors'], expected)
    assert message.startswith('hosts a1, a2, a3, b1: ')


def test_missing_pool_domain_only_matters_where_htcondor_runs(interface, component_defaults):
    hostvars, groups = pool_inventory()
    for host in hostvars:
        del hostvars[host]['htcondor_pool_domain']
    one(check(interface, component_defaults, hostvars, groups)['errors'], 'htcondor_pool_domain is not set')
    assert check(interface, component_defaults, hostvars, groups,
                 pool={'bsaas_components': {'htcondor': {'enabled': False}}})['errors'] == []


@pytest.mark.parametrize('name, value, expected', [
    ('zookeeper_client_port', 70000, '70000 is outside 1-65535'),
    ('zookeeper_election_port', 0, '0 is outside 1-65535'),
    ('etcd_client_port', 'twentythree', "'twentythree' is not a number"),
    ('docker_registry_mirrors', 'https://m1.example,https://m2.example',
     "is the string 'https://m1.example,https://m2.example' where a list is expected"),
    ('lark_campus_networks', '10.0.0.0/8', 'where a list is expected'),
    ('calico_etcd_endpoints', ['https//etcd1:2379'], "'https//etcd1:2379' has no scheme"),
    ('calico_etcd_endpoints', ['https://:2379'], "'https://:2379' names no host"),
    ('bsaas_marathon_url', ['http://fe1.example:99999'], 'fe1.example:99999'),
    ('etcd_tarball_url', 'ftp://mirror.example/etcd.tgz', "has scheme 'ftp', not http or https"),
    ('zookeeper_tarball_url', 'https://mirror example/zk.tgz', 'contains white space'),
    ('lark_priority_default', 'urgent', "'urgent' is not one of bulk, normal, interactive"),
    ('zookeeper_install_method', 'snap', "'snap' is not one of package, tarball, container"),
])
def test_values_the_roles_would_refuse_or_misuse(interface, component_defaults, name, value, expected):
    hostvars, groups = pool_inventory(host_vars={'a1': {name: value}})
    message = one(check(interface, component_defaults, hostvars, groups)['errors'], 'host a1: ' + name, expected)
    assert ';' in message  # every message ends with the fix


def test_prefix_only_url_check_is_not_enough(interface, component_defaults):
    """'https://' passes the role's regex ^https?:// but is no URL."""
    hostvars, groups = pool_inventory(host_vars={'a1': {'docker_registry_mirrors': ['https://']}})
    one(check(interface, component_defaults, hostvars, groups)['errors'], 'docker_registry_mirrors', 'names no host')


def test_good_urls_and_file_repositories_pass(interface, component_defaults):
    hostvars, groups = pool_inventory(all_vars={
        'docker_ce_repo_base_url': 'file:///srv/mirror/docker', 'bsaas_marathon_url': ['https://fe1.example:8443'],
        'calico_etcd_endpoints': ['https://10.1.0.1:2379'], 'htcondor_repo_base_url': 'https://mirror.example/htc'})
    assert check(interface, component_defaults, hostvars, groups)['errors'] == []


def test_values_that_need_the_host_are_left_to_the_role(interface, component_defaults):
    class Lazy(dict):
        def __getitem__(self, key):
            if key == 'zookeeper_client_port':
                raise RuntimeError("'zookeeper_base_port' is undefined")
            return dict.__getitem__(self, key)
    hostvars, groups = pool_inventory(host_vars={'a1': {'zookeeper_client_port': '{{ zookeeper_base_port + 1 }}'}})
    raw = dict((h, dict(v)) for h, v in hostvars.items())
    hostvars['a1'] = Lazy(hostvars['a1'])
    result = check(interface, component_defaults, hostvars, groups, raw=raw)
    assert result['errors'] == []


@pytest.mark.parametrize('subnet, expected', [
    ('10.1.128.0/20', 'overlaps site a network 10.1.0.0/16 (bsaas_site_private_networks)'),
    ('192.168.16.0/24', 'overlaps site b Calico pool 192.168.16.0/20 (bsaas_site_calico_pool)'),
    ('10.213.0.0/33', 'is not a CIDR network'),
])
def test_lark_subnets_stay_out_of_site_networks_and_pools(interface, component_defaults, subnet, expected):
    networks = {'nat': {'type': 'nat', 'subnet': subnet}}
    hostvars, groups = pool_inventory(all_vars={'lark_networks': networks})
    message = one(check(interface, component_defaults, hostvars, groups)['errors'], 'lark_networks.nat.subnet',
                  expected)
    # Only the executors run Lark.
    assert message.startswith('hosts a3, b1: ')


def test_lark_default_subnet_is_checked_too(interface, component_defaults):
    hostvars, groups = pool_inventory(site_vars={'site_b': {'bsaas_site_private_networks': ['10.2.0.0/16',
                                                                                            '10.213.7.0/24']}})
    one(check(interface, component_defaults, hostvars, groups)['errors'], 'hosts a3, b1: lark_networks.nat.subnet '
        '10.213.0.0/16 overlaps site b network 10.213.7.0/24')
    # Lark switched off: nothing to check.
    assert check(interface, component_defaults, hostvars, groups,
                 pool={'bsaas_components': {'lark': {'enabled': False}}})['errors'] == []


def test_etcd_size_is_checked_before_anything_changes(interface, component_defaults):
    hostvars, groups = pool_inventory()
    groups['etcd'] = ['a1', 'a2']
    one(check(interface, component_defaults, hostvars, groups)['errors'], 'group etcd has 2 member(s)', '3, 5')
    for host in hostvars:
        hostvars[host]['etcd_allowed_member_counts'] = [1, 2, 3]
    assert check(interface, component_defaults, hostvars, groups)['errors'] == []


def test_url_problem_parses_instead_of_matching_a_prefix():
    assert inputs.url_problem('https://etcd1.example:2379') == ''
    assert inputs.url_problem('http://[::1]:8080/v2') == ''
    assert inputs.url_problem('https://') == 'names no host'
    assert inputs.url_problem('https://host:0') == 'has port 0, outside 1-65535'
    assert 'does not parse' in inputs.url_problem('http://[::1')
