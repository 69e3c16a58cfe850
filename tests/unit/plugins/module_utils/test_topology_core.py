# -*- coding: utf-8 -*-
"""Topology computation over several pool shapes; runs on Python 3.6 (EL7) and 3.11."""
from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor
from ansible_collections.htcfarm.bsaas.plugins.module_utils import topology as topo

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
POOL_DOMAIN = 'indigo.example'


def make_inventory(sites, central_managers, submitters=(), executors=(), pool=None):
    """Build (hostvars, groups) as Ansible merges them: site group_vars copied onto each member.

    ``sites`` maps site name to dict(vars=..., hosts={hostname: hostvars}).
    """
    hostvars = {}
    groups = {'all': [], 'htcondor_central_managers': list(central_managers),
              'htcondor_submitters': list(submitters), 'htcondor_executors': list(executors)}
    for name, site in sites.items():
        group = 'site_' + name
        groups[group] = []
        for host, host_vars in site['hosts'].items():
            merged = dict(pool or {})
            merged.update(site.get('vars', {}))
            merged.update(host_vars)
            hostvars[host] = merged
            groups[group].append(host)
            groups['all'].append(host)
    return hostvars, groups


def site(as_number, hosts, nat='none', public='', networks=(), calico_pool='', reflectors=None):
    site_vars = {'bsaas_site_as_number': as_number, 'bsaas_site_nat': nat,
                 'bsaas_site_private_networks': list(networks)}
    if public:
        site_vars['bsaas_site_public_address'] = public
    if calico_pool:
        site_vars['bsaas_site_calico_pool'] = calico_pool
    if reflectors is not None:
        site_vars['bsaas_site_route_reflectors'] = reflectors
    return {'vars': site_vars, 'hosts': hosts}


def three_sites(bari_nat='none', bari_public=''):
    """Torino (central manager), Bologna, Bari: the INDIGO deployment."""
    return make_inventory(
        {
            'torino': site(65101, {'to-fe1': {'ansible_host': '10.1.0.10'}, 'to-wn1': {'ansible_host': '10.1.0.21'},
                                   'to-wn2': {'ansible_host': '10.1.0.22'}},
                           networks=['10.1.0.0/16'], calico_pool='192.168.0.0/20'),
            'bologna': site(65102, {'bo-fe1': {'ansible_host': '10.2.0.10'}, 'bo-wn1': {'ansible_host': '10.2.0.21'}},
                            networks=['10.2.0.0/16'], calico_pool='192.168.16.0/20'),
            'bari': site(65103, {'ba-wn1': {'ansible_host': '10.3.0.21'}, 'ba-wn2': {'ansible_host': '10.3.0.22'}},
                         nat=bari_nat, public=bari_public, networks=['10.3.0.0/16'], calico_pool='192.168.32.0/20'),
        },
        central_managers=['to-fe1'], submitters=['bo-fe1'],
        executors=['to-wn1', 'to-wn2', 'bo-wn1', 'ba-wn1', 'ba-wn2'])


def assert_clean(topology):
    assert topology['errors'] == [], topology['errors']


def role_knobs(topology, groups, host):
    """Every knob the htcondor role writes for ``host`` from its topology inputs (a later fragment wins)."""
    knobs = {}
    settings = topo.htcondor_settings(topology, host, POOL_DOMAIN)
    for fragment in condor.host_fragments(host, groups, settings).values():
        knobs.update(fragment['knobs'])
    return knobs


def test_one_site_uses_calico_mesh_and_no_ccb():
    hostvars, groups = make_inventory(
        {'sandbox': site(64512, {'cm': {'ansible_host': '172.30.0.2'}, 'wn': {'ansible_host': '172.30.0.3'}})},
        central_managers=['cm'], executors=['wn'])
    topology = topo.compute_topology(hostvars, groups)
    assert_clean(topology)
    assert topology['multi_site'] is False
    wn = topo.host_variables(topology, 'wn')
    assert wn['htcondor_ccb_address'] == ''
    assert wn['htcondor_tcp_forwarding_host'] == ''
    assert wn['htcondor_private_network_name'] == 'sandbox.bsaas'
    assert wn['htcondor_use_shared_port'] is True and wn['htcondor_shared_port_port'] == 9618
    assert wn['calico_node_to_node_mesh'] is True
    assert wn['calico_bgp_peers'] == []
    assert wn['calico_as_number'] == 64512
    assert role_knobs(topology, groups, 'wn')['CONDOR_HOST'] == '172.30.0.2'


def test_three_routed_sites_peer_reflectors_over_ebgp():
    hostvars, groups = three_sites()
    topology = topo.compute_topology(hostvars, groups)
    assert_clean(topology)
    assert topology['multi_site'] is True
    reflectors = dict((s['name'], s['route_reflectors']) for s in topology['sites'].values())
    assert reflectors == {'torino': ['to-fe1'], 'bologna': ['bo-fe1'], 'bari': ['ba-wn1']}
    to_fe1 = topo.host_variables(topology, 'to-fe1')
    assert to_fe1['calico_node_to_node_mesh'] is False
    ebgp = sorted((p['peer_ip'], p['as_number']) for p in to_fe1['calico_bgp_peers'] if p['session'] == 'ebgp')
    assert ebgp == [('10.2.0.10', 65102), ('10.3.0.21', 65103)]
    ibgp = sorted(p['peer_ip'] for p in to_fe1['calico_bgp_peers'] if p['session'] == 'ibgp')
    assert ibgp == ['10.1.0.21', '10.1.0.22']
    # A plain worker meshes inside its site and never peers across sites.
    wn = topo.host_variables(topology, 'to-wn1')
    assert all(p['session'] == 'ibgp' and p['as_number'] == 65101 for p in wn['calico_bgp_peers'])
    assert all(p['scope'] == 'node' and p['node'] == 'to-wn1' for p in wn['calico_bgp_peers'])
    # eBGP is symmetric: every reflector session has its mirror.
    sessions = set()
    for name in topology['hosts']:
        for peer in topo.host_variables(topology, name)['calico_bgp_peers']:
            if peer['session'] == 'ebgp':
                sessions.add((name, peer['peer_host']))
    assert all((b, a) in sessions for a, b in sessions)
    # Routed sites: no CCB anywhere, one PRIVATE_NETWORK_NAME per site.
    names = set()
    for name in topology['hosts']:
        host = topo.host_variables(topology, name)
        assert host['htcondor_ccb_address'] == ''
        names.add(host['htcondor_private_network_name'])
    assert names == {'torino.bsaas', 'bologna.bsaas', 'bari.bsaas'}


def test_natted_site_registers_through_ccb():
    hostvars, groups = three_sites(bari_nat='masquerade', bari_public='192.0.2.30')
    topology = topo.compute_topology(hostvars, groups)
    assert_clean(topology)
    for name in ('ba-wn1', 'ba-wn2'):
        host = topo.host_variables(topology, name)
        assert host['htcondor_ccb_address'] == '$(COLLECTOR_HOST)'
        assert host['htcondor_tcp_forwarding_host'] == ''
        # The collector is reached on the central manager's routable address, not a private one.
        assert role_knobs(topology, groups, name)['CONDOR_HOST'] == '10.1.0.10'
    assert topo.host_variables(topology, 'to-wn1')['htcondor_ccb_address'] == ''
    # Reflectors elsewhere peer with Bari through its gateway address.
    to_fe1 = topo.host_variables(topology, 'to-fe1')
    assert ('192.0.2.30', 65103) in [(p['peer_ip'], p['as_number']) for p in to_fe1['calico_bgp_peers']]
    assert any('bari' in w and 'NAT' in w for w in topology['warnings'])


def test_port_forwarded_host_advertises_the_public_address():
    hostvars, groups = three_sites(bari_nat='port_forward', bari_public='192.0.2.30')
    hostvars['ba-wn1']['bsaas_public_address'] = '192.0.2.30'
    topology = topo.compute_topology(hostvars, groups)
    assert_clean(topology)
    forwarded = topo.host_variables(topology, 'ba-wn1')
    assert forwarded['htcondor_tcp_forwarding_host'] == '192.0.2.30'
    assert forwarded['htcondor_ccb_address'] == ''
    # Its neighbour has no forwarded port, so it falls back to CCB.
    assert topo.host_variables(topology, 'ba-wn2')['htcondor_ccb_address'] == '$(COLLECTOR_HOST)'


def test_large_site_uses_route_reflector_instead_of_mesh():
    workers = dict(('wn%03d' % i, {'ansible_host': '10.9.%d.%d' % (i // 200, i % 200 + 10)}) for i in range(60))
    workers['rr1'] = {'ansible_host': '10.9.99.1'}
    hostvars, groups = make_inventory(
        {'big': site(65200, workers, networks=['10.9.0.0/16'], reflectors=['rr1']),
         'small': site(65201, {'cm': {'ansible_host': '10.8.0.2'}}, networks=['10.8.0.0/16'])},
        central_managers=['cm'], executors=sorted(workers))
    topology = topo.compute_topology(hostvars, groups)
    assert_clean(topology)
    worker = topo.host_variables(topology, 'wn007')
    assert [(p['peer_host'], p['session']) for p in worker['calico_bgp_peers']] == [('rr1', 'ibgp')]
    reflector = topo.host_variables(topology, 'rr1')
    assert len([p for p in reflector['calico_bgp_peers'] if p['session'] == 'ibgp']) == 60
    assert [p['peer_host'] for p in reflector['calico_bgp_peers'] if p['session'] == 'ebgp'] == ['cm']


def test_shared_port_off_and_custom_port():
    hostvars, groups = make_inventory(
        {'one': site(64512, {'cm': {'ansible_host': '10.0.0.2'}, 'wn': {'ansible_host': '10.0.0.3'}})},
        central_managers=['cm'], executors=['wn'], pool={'bsaas_shared_port_port': 9620})
    topology = topo.compute_topology(hostvars, groups)
    assert_clean(topology)
    assert role_knobs(topology, groups, 'wn')['COLLECTOR_HOST'] == '10.0.0.2:9620'
    topology = topo.compute_topology(hostvars, groups, {'bsaas_use_shared_port': False})
    knobs = role_knobs(topology, groups, 'wn')
    assert knobs['USE_SHARED_PORT'] is False
    # The role still writes SHARED_PORT_PORT (HTCondor ignores it without USE_SHARED_PORT) and keeps the
    # pool's port on COLLECTOR_HOST, where the collector then listens itself.
    assert knobs['SHARED_PORT_PORT'] == 9620 and knobs['COLLECTOR_HOST'] == '10.0.0.2:9620'


@pytest.mark.parametrize('mutate, expected', [
    (lambda hv, g: hv['bo-fe1'].update(bsaas_site_as_number=65101) or hv['bo-wn1'].update(bsaas_site_as_number=65101),
     'both use AS 65101'),
    (lambda hv, g: [hv[h].update(bsaas_site_nat='masquerade') for h in g['site_torino']],
     'site bari'),
    (lambda hv, g: [hv[h].update(bsaas_site_calico_pool='192.168.8.0/21') for h in g['site_bologna']],
     'Calico pools of sites'),
    (lambda hv, g: [hv[h].update(bsaas_site_private_networks=['10.0.0.0/8']) for h in g['site_bologna']],
     'overlap'),
    (lambda hv, g: g['site_bari'].append('to-wn1'), 'several sites'),
    (lambda hv, g: g.setdefault('lonely', ['x1']) and hv.setdefault('x1', {'ansible_host': '10.7.0.1'}),
     'is in no site group'),
    (lambda hv, g: [hv[h].update(bsaas_site_as_number='sixty') for h in g['site_bari']], 'not a valid AS number'),
    (lambda hv, g: [hv[h].update(bsaas_site_route_reflectors=['to-fe1']) for h in g['site_bari']],
     'bsaas_site_route_reflectors names to-fe1'),
    (lambda hv, g: hv['to-wn1'].update(ansible_host='10.2.0.99'), 'outside the networks of site torino'),
    (lambda hv, g: [hv[h].update(bsaas_site_nat='carrier-grade') for h in g['site_bari']], 'bsaas_site_nat'),
    (lambda hv, g: g.update(htcondor_central_managers=[]), 'htcondor_central_managers is empty'),
    # Accepted before, and wrong: a NATed site nobody can open a BGP session to, a Calico pool inside the
    # site's own network, two hosts with one address (in one site, or at two routed sites).
    (lambda hv, g: [hv[h].update(bsaas_site_nat='masquerade') for h in g['site_bari']],
     'site bari is NATed (masquerade) but has no bsaas_site_public_address'),
    (lambda hv, g: [hv[h].update(bsaas_site_calico_pool='10.3.128.0/20') for h in g['site_bari']],
     'site bari: Calico pool 10.3.128.0/20 overlaps its own network 10.3.0.0/16'),
    (lambda hv, g: hv['to-wn1'].update(ansible_host=hv['to-fe1']['ansible_host']),
     'hosts to-fe1 and to-wn1 both have address 10.1.0.10 (site torino)'),
    (lambda hv, g: hv['bo-wn1'].update(ansible_host='10.1.0.10', bsaas_private_address='10.1.0.10') or
     [hv[h].update(bsaas_site_private_networks=['10.1.0.0/16', '10.2.0.0/16']) for h in g['site_bologna']],
     'both have address 10.1.0.10 (site bologna and site torino)'),
])
def test_topology_mistakes_are_reported(mutate, expected):
    hostvars, groups = three_sites()
    mutate(hostvars, groups)
    topology = topo.compute_topology(hostvars, groups)
    assert any(expected in error for error in topology['errors']), topology['errors']


def test_natted_site_without_reachable_broker_names_the_fix():
    hostvars, groups = three_sites(bari_nat='masquerade', bari_public='192.0.2.30')
    for host in groups['site_torino']:
        hostvars[host]['bsaas_site_nat'] = 'masquerade'
    errors = topo.compute_topology(hostvars, groups)['errors']
    bari = [e for e in errors if e.startswith('site bari')]
    assert bari and 'CCB broker' in bari[0] and 'bsaas_public_address' in bari[0]
    # A forwarded shared port on the central manager makes it reachable again.
    for host in groups['site_torino']:
        hostvars[host]['bsaas_site_nat'] = 'port_forward'
    hostvars['to-fe1']['bsaas_public_address'] = '198.51.100.10'
    topology = topo.compute_topology(hostvars, groups)
    assert_clean(topology)
    assert role_knobs(topology, groups, 'ba-wn1')['CONDOR_HOST'] == '198.51.100.10'
    assert role_knobs(topology, groups, 'to-wn1')['CONDOR_HOST'] == '10.1.0.10'


def test_two_hosts_cannot_share_one_forwarded_port():
    hostvars, groups = three_sites(bari_nat='port_forward', bari_public='192.0.2.30')
    hostvars['ba-wn1']['bsaas_public_address'] = '192.0.2.30'
    hostvars['ba-wn2']['bsaas_public_address'] = '192.0.2.30'
    errors = topo.compute_topology(hostvars, groups)['errors']
    assert any('both expect 192.0.2.30:9618' in e for e in errors), errors


def test_nat_may_reuse_private_space():
    hostvars, groups = three_sites(bari_nat='masquerade', bari_public='192.0.2.30')
    for host in groups['site_bari']:
        hostvars[host]['bsaas_site_private_networks'] = ['10.1.0.0/16']
    hostvars['ba-wn1']['ansible_host'] = '10.1.5.21'
    hostvars['ba-wn2']['ansible_host'] = '10.1.5.22'
    assert_clean(topo.compute_topology(hostvars, groups))


def test_unknown_host_is_a_clear_error():
    hostvars, groups = three_sites()
    topology = topo.compute_topology(hostvars, groups)
    with pytest.raises(topo.TopologyError, match='nowhere'):
        topo.host_variables(topology, 'nowhere')


ROLE_OF_GROUP = (('htcondor_central_managers', 'CentralManager'), ('htcondor_submitters', 'Submit'),
                 ('htcondor_executors', 'Execute'))


@pytest.mark.parametrize('shape', ['routed', 'natted', 'forwarded', 'natted_cm_public', 'forwarded_cm_public',
                                   'custom_port', 'no_shared_port'])
def test_role_config_read_back_by_htcondor(shape, role_config_read_back):
    """Per host, the config.d the htcondor role writes from the topology's inputs, parsed by HTCondor itself."""
    if shape.startswith('natted'):
        hostvars, groups = three_sites(bari_nat='masquerade', bari_public='192.0.2.30')
    elif shape.startswith('forwarded'):
        hostvars, groups = three_sites(bari_nat='port_forward', bari_public='192.0.2.30')
        hostvars['ba-wn1']['bsaas_public_address'] = '192.0.2.30'
    else:
        hostvars, groups = three_sites()
    cm_public = shape.endswith('_cm_public')
    if cm_public:
        hostvars['to-fe1']['bsaas_public_address'] = '198.51.100.10'
    port = 9620 if shape == 'custom_port' else 9618
    for host_vars in hostvars.values():
        host_vars['bsaas_shared_port_port'] = port
    use_shared_port = shape != 'no_shared_port'
    topology = topo.compute_topology(hostvars, groups, {'bsaas_use_shared_port': use_shared_port})
    assert_clean(topology)
    role_vars = dict((name, topo.host_variables(topology, name)) for name in topology['hosts'])
    # The role's own pool check agrees with the topology: nothing to refuse.
    errors, _warnings = condor.pool_problems(groups, role_vars)
    assert errors == []
    for name, inputs in role_vars.items():
        param = role_config_read_back(name, groups, topo.htcondor_settings(topology, name, POOL_DOMAIN))
        role = [r for g, r in ROLE_OF_GROUP if name in groups[g]][0]
        # CONDOR_HOST is the central manager under the name the topology hands this host: its address inside
        # Torino, and from the other sites its public one when it has one.
        central_manager = '198.51.100.10' if cm_public and not name.startswith('to-') else '10.1.0.10'
        assert param['CONDOR_HOST'] == ', '.join(inputs['htcondor_central_manager_names'].values())
        assert param['CONDOR_HOST'] == central_manager
        collector = central_manager if port == 9618 else '%s:%d' % (central_manager, port)
        # The collector HTCondor ends up with is the one the topology placed for this host.
        assert param['COLLECTOR_HOST'] == topology['hosts'][name]['htcondor']['collector_host'] == collector
        assert param['PRIVATE_NETWORK_NAME'] == inputs['htcondor_private_network_name']
        assert param['TRUST_DOMAIN'] == POOL_DOMAIN
        if inputs['htcondor_ccb_address']:
            # HTCondor expands $(COLLECTOR_HOST) to the collector the host can actually reach.
            assert param['CCB_ADDRESS'] == param['COLLECTOR_HOST'] == collector
        else:
            assert param.get('CCB_ADDRESS', '') == ''
        assert param.get('TCP_FORWARDING_HOST', '') == inputs['htcondor_tcp_forwarding_host']
        assert param['USE_SHARED_PORT'] in ((True, 'true', 'True') if use_shared_port else (False, 'false', 'False'))
        assert str(param['SHARED_PORT_PORT']) == str(port)
        daemons = param['DAEMON_LIST']
        assert ('STARTD' in daemons) == (role == 'Execute')
        assert ('COLLECTOR' in daemons) == (role == 'CentralManager')
    behind_ccb = sorted(name for name, inputs in role_vars.items() if inputs['htcondor_ccb_address'])
    if shape.startswith('natted'):
        assert behind_ccb == ['ba-wn1', 'ba-wn2']
    elif shape.startswith('forwarded'):
        assert behind_ccb == ['ba-wn2']
        assert role_vars['ba-wn1']['htcondor_tcp_forwarding_host'] == '192.0.2.30'
    else:
        assert behind_ccb == []
    assert all(role_vars[name]['htcondor_ccb_address'] == '$(COLLECTOR_HOST)' for name in behind_ccb)


def test_role_settings_follow_the_htcondor_role():
    """role_settings builds the role's htcondor__settings: the same keys, each its htcondor_ variable or default."""
    yaml = pytest.importorskip('yaml')
    with open(os.path.join(REPO, 'roles', 'htcondor', 'vars', 'main.yml')) as handle:
        role_settings = yaml.safe_load(handle)['htcondor__settings']
    with open(os.path.join(REPO, 'roles', 'htcondor', 'defaults', 'main.yml')) as handle:
        defaults = yaml.safe_load(handle)
    plain = dict((key, value) for key, value in role_settings.items() if key not in topo.HTCONDOR_DERIVED_SETTINGS)
    assert all(value == '{{ htcondor_%s }}' % key for key, value in plain.items()), role_settings
    assert set(topo.HTCONDOR_DERIVED_SETTINGS) <= set(role_settings)
    expected = dict((key, defaults.get('htcondor_' + key)) for key in plain)
    expected['pool_domain'] = POOL_DOMAIN
    expected['version'] = ''
    expected['slot_users'] = ['bsaas-slot1']
    assert dict(topo.role_settings({}, POOL_DOMAIN)) == expected
    # Inputs the topology hands a host replace the defaults; overrides come last.
    hostvars, groups = three_sites(bari_nat='masquerade', bari_public='192.0.2.30')
    topology = topo.compute_topology(hostvars, groups)
    settings = topo.htcondor_settings(topology, 'ba-wn1', POOL_DOMAIN, {'pool_name': 'indigo'})
    assert settings['ccb_address'] == '$(COLLECTOR_HOST)' and settings['private_network_name'] == 'bari.bsaas'
    assert settings['central_manager_names'] == {'to-fe1': '10.1.0.10'} and settings['pool_name'] == 'indigo'


def test_central_manager_names_follow_the_viewpoint():
    hostvars, groups = three_sites(bari_nat='masquerade', bari_public='192.0.2.30')
    hostvars['to-fe1']['bsaas_public_address'] = '198.51.100.10'
    topology = topo.compute_topology(hostvars, groups)
    assert_clean(topology)
    assert topo.host_variables(topology, 'ba-wn1')['htcondor_central_manager_names'] == {'to-fe1': '198.51.100.10'}
    assert topo.host_variables(topology, 'to-wn1')['htcondor_central_manager_names'] == {'to-fe1': '10.1.0.10'}
    assert topo.host_variables(topology, 'ba-wn1')['htcondor_site_inbound_reachable'] is False
    assert topo.host_variables(topology, 'to-wn1')['htcondor_site_inbound_reachable'] is True


def test_natted_submitter_cannot_use_other_natted_executors():
    hostvars, groups = three_sites(bari_nat='masquerade', bari_public='192.0.2.30')
    for host in groups['site_bologna']:
        hostvars[host].update(bsaas_site_nat='masquerade', bsaas_site_public_address='192.0.2.40')
    warnings = topo.compute_topology(hostvars, groups)['warnings']
    assert any(w.startswith('submitter bo-fe1 and executors ba-wn1, ba-wn2') for w in warnings), warnings


def test_deploy_plan_explains_every_skip():
    table = [
        {'name': 'common', 'layer': 'infrastructure', 'role': 'htcfarm.bsaas.common', 'hosts': 'all', 'needs': []},
        {'name': 'etcd', 'layer': 'infrastructure', 'role': 'htcfarm.bsaas.etcd', 'hosts': 'etcd', 'needs': []},
        {'name': 'mesos', 'layer': 'orchestration', 'role': 'htcfarm.bsaas.mesos', 'hosts': 'mesos_masters',
         'needs': ['etcd']},
        {'name': 'marathon', 'layer': 'orchestration', 'role': 'htcfarm.bsaas.marathon', 'hosts': 'marathon',
         'needs': ['mesos']},
        {'name': 'htcondor', 'layer': 'application', 'role': 'htcfarm.bsaas.htcondor', 'hosts': 'htcondor_executors',
         'needs': [], 'mode': 'native'},
        {'name': 'bsaas', 'layer': 'application', 'role': 'htcfarm.bsaas.bsaas', 'hosts': 'marathon',
         'needs': ['marathon'], 'mode': 'marathon'},
    ]
    groups = {'all': ['a', 'b'], 'etcd': ['a'], 'mesos_masters': ['a'], 'marathon': ['a'],
              'htcondor_executors': ['b']}
    probes = [
        {'item': {'component': 'mesos', 'artifact': {'path': '/srv/mesos.tar'}}, 'stat': {'exists': False}},
        {'item': {'component': 'etcd', 'artifact': {'url': 'https://mirror/etcd.tgz'}}, 'status': 401},
        {'item': {'component': 'htcondor', 'artifact': {'path': '/srv/condor.tgz', 'sha256': 'AB'}},
         'stat': {'exists': True, 'checksum': 'cd'}},
    ]
    plan = topo.deploy_plan(table, {'etcd': {'enabled': True}}, groups, 'native', probes,
                            ['common', 'etcd', 'mesos', 'marathon', 'htcondor'])
    steps = dict((s['name'], s) for s in plan)
    assert steps['common']['deploy'] and steps['etcd']['deploy']
    assert steps['mesos']['reason'] == 'artifacts not reachable: /srv/mesos.tar: not found on the controller'
    assert steps['marathon']['reason'] == 'needs mesos, which is not deployed'
    assert 'sha256 mismatch' in steps['htcondor']['reason']
    assert 'native' in steps['bsaas']['reason']
    plan = topo.deploy_plan(table, {'etcd': {'enabled': 'false'}}, groups, 'marathon', [], ['etcd'])
    steps = dict((s['name'], s) for s in plan)
    assert steps['etcd']['reason'] == 'disabled in bsaas_components.etcd.enabled'
    assert steps['common']['reason'] == 'role htcfarm.bsaas.common is not in this version of the collection'
    report = topo.plan_report(plan, {'hosts': {}, 'submitters': []})
    assert 'layer infrastructure: NOT deployed' in report


def test_plan_report_tells_users_how_to_reach_the_submitter():
    hostvars, groups = three_sites()
    topology = topo.compute_topology(hostvars, groups)
    plan = [{'name': 'htcondor', 'layer': 'application', 'members': ['bo-fe1'], 'deploy': True, 'reason': ''}]
    report = topo.plan_report(plan, topology, 2222)
    assert 'users reach the submitter bo-fe1 with: ssh -p 2222 <user>@10.2.0.10' in report[-1]
