# -*- coding: utf-8 -*-
"""Topology computation over several pool shapes; runs on Python 3.6 (EL7) and 3.11."""
from __future__ import absolute_import, division, print_function

import os
import tempfile

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import topology as topo


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
    assert topo.condor_knobs(topology, 'wn')['CONDOR_HOST'] == '172.30.0.2'


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
        assert topo.condor_knobs(topology, name)['CONDOR_HOST'] == '10.1.0.10'
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
    assert topo.condor_knobs(topology, 'wn')['COLLECTOR_HOST'] == '10.0.0.2:9620'
    topology = topo.compute_topology(hostvars, groups, {'bsaas_use_shared_port': False})
    knobs = topo.condor_knobs(topology, 'wn')
    assert knobs['USE_SHARED_PORT'] == 'False' and 'SHARED_PORT_PORT' not in knobs


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
])
def test_topology_mistakes_are_reported(mutate, expected):
    hostvars, groups = three_sites()
    mutate(hostvars, groups)
    topology = topo.compute_topology(hostvars, groups)
    assert any(expected in error for error in topology['errors']), topology['errors']


def test_natted_site_without_reachable_broker_names_the_fix():
    hostvars, groups = three_sites(bari_nat='masquerade')
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
    assert topo.condor_knobs(topology, 'ba-wn1')['CONDOR_HOST'] == '198.51.100.10'
    assert topo.condor_knobs(topology, 'to-wn1')['CONDOR_HOST'] == '10.1.0.10'


def test_two_hosts_cannot_share_one_forwarded_port():
    hostvars, groups = three_sites(bari_nat='port_forward', bari_public='192.0.2.30')
    hostvars['ba-wn1']['bsaas_public_address'] = '192.0.2.30'
    hostvars['ba-wn2']['bsaas_public_address'] = '192.0.2.30'
    errors = topo.compute_topology(hostvars, groups)['errors']
    assert any('both expect 192.0.2.30:9618' in e for e in errors), errors


def test_nat_may_reuse_private_space():
    hostvars, groups = three_sites(bari_nat='masquerade')
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


def render_fragment(use, knobs):
    """The collection's renderer when it is there (module_utils/condor.py), else the same text by hand."""
    try:
        from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor
        return condor.render_fragment(knobs=knobs, use=use)
    except (ImportError, AttributeError):
        return ''.join(['use %s\n' % item for item in use] + ['%s = %s\n' % kv for kv in knobs.items()])


@pytest.mark.parametrize('shape', ['routed', 'natted', 'forwarded'])
def test_generated_config_read_back_by_htcondor(shape):
    """Every host's network placement, parsed by HTCondor itself, means what the topology says."""
    htcondor2 = pytest.importorskip('htcondor2', reason='needs the htcondor 25 wheel (htcondor2), absent on 3.6')
    if shape == 'routed':
        hostvars, groups = three_sites()
    else:
        hostvars, groups = three_sites(bari_nat='masquerade' if shape == 'natted' else 'port_forward',
                                       bari_public='192.0.2.30')
        if shape == 'forwarded':
            hostvars['ba-wn1']['bsaas_public_address'] = '192.0.2.30'
    topology = topo.compute_topology(hostvars, groups)
    assert_clean(topology)
    saved = os.environ.get('CONDOR_CONFIG')
    tmp = tempfile.mkdtemp()
    try:
        for name in topology['hosts']:
            role = [r for g, r in ROLE_OF_GROUP if name in groups[g]][0]
            path = os.path.join(tmp, name + '.conf')
            with open(path, 'w') as handle:
                handle.write(render_fragment(['ROLE: %s' % role], topo.condor_knobs(topology, name)))
            os.environ['CONDOR_CONFIG'] = path
            htcondor2.reload_config()
            expected = topo.host_variables(topology, name)
            placement = topology['hosts'][name]['htcondor']
            param = htcondor2.param
            assert param['PRIVATE_NETWORK_NAME'] == expected['htcondor_private_network_name']
            assert param['CONDOR_HOST'] == placement['condor_host']
            assert param['USE_SHARED_PORT'] in (True, 'true', 'True')
            assert str(param['SHARED_PORT_PORT']) == '9618'
            if expected['htcondor_ccb_address']:
                # HTCondor expands $(COLLECTOR_HOST) to the collector the host can actually reach.
                assert param['CCB_ADDRESS'] == param['COLLECTOR_HOST'] == placement['collector_host']
            else:
                assert param.get('CCB_ADDRESS', '') == ''
            assert param.get('TCP_FORWARDING_HOST', '') == expected['htcondor_tcp_forwarding_host']
            daemons = param['DAEMON_LIST']
            assert ('STARTD' in daemons) == (role == 'Execute')
            assert ('COLLECTOR' in daemons) == (role == 'CentralManager')
        if shape == 'natted':
            assert topo.host_variables(topology, 'ba-wn1')['htcondor_ccb_address']
    finally:
        if saved is None:
            os.environ.pop('CONDOR_CONFIG', None)
        else:
            os.environ['CONDOR_CONFIG'] = saved


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


@pytest.mark.parametrize('shape', ['natted', 'forwarded'])
def test_htcondor_role_fragments_with_topology_inputs_read_back(shape):
    """The whole config.d the htcondor role renders from site.yml's inputs, parsed by HTCondor, per host."""
    htcondor2 = pytest.importorskip('htcondor2', reason='needs the htcondor 25 wheel (htcondor2), absent on 3.6')
    from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor
    hostvars, groups = three_sites(bari_nat='masquerade' if shape == 'natted' else 'port_forward',
                                   bari_public='192.0.2.30')
    if shape == 'forwarded':
        hostvars['ba-wn1']['bsaas_public_address'] = '192.0.2.30'
    hostvars['to-fe1']['bsaas_public_address'] = '198.51.100.10'
    topology = topo.compute_topology(hostvars, groups)
    assert_clean(topology)
    role_vars = {}
    for name in topology['hosts']:
        role_vars[name] = dict(topo.host_variables(topology, name))
    # The role's own pool check agrees with the topology: nothing to refuse.
    errors, _warnings = condor.pool_problems(groups, role_vars)
    assert errors == []
    saved = os.environ.get('CONDOR_CONFIG')
    try:
        for name, inputs in role_vars.items():
            settings = dict((k[len('htcondor_'):], v) for k, v in inputs.items() if k.startswith('htcondor_'))
            settings['pool_domain'] = 'indigo.example'
            config_dir = tempfile.mkdtemp()
            for fragment, body in condor.host_fragments(name, groups, settings).items():
                with open(os.path.join(config_dir, fragment + '.conf'), 'w') as handle:
                    handle.write(condor.render_fragment(knobs=body['knobs'], use=body['use']))
            main = os.path.join(config_dir, 'condor_config')
            with open(main, 'w') as handle:
                handle.write('LOCAL_CONFIG_DIR = %s\n' % config_dir)
            os.environ['CONDOR_CONFIG'] = main
            htcondor2.reload_config()
            param = htcondor2.param
            assert param['CONDOR_HOST'] == topology['hosts'][name]['htcondor']['condor_host']
            assert param['PRIVATE_NETWORK_NAME'] == inputs['htcondor_private_network_name']
            if inputs['htcondor_ccb_address']:
                assert param['CCB_ADDRESS'] == param['CONDOR_HOST'] == '198.51.100.10'
            else:
                assert param.get('CCB_ADDRESS', '') == ''
            assert param.get('TCP_FORWARDING_HOST', '') == inputs['htcondor_tcp_forwarding_host']
        assert role_vars['ba-wn2']['htcondor_ccb_address'] == '$(COLLECTOR_HOST)'
    finally:
        if saved is None:
            os.environ.pop('CONDOR_CONFIG', None)
        else:
            os.environ['CONDOR_CONFIG'] = saved
