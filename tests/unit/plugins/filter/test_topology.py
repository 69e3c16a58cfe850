# -*- coding: utf-8 -*-
"""The topology filters on real Ansible inventories (the example and sandbox ones shipped here)."""
from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible.errors import AnsibleFilterError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

from ansible_collections.htcfarm.bsaas.plugins.filter import topology as topology_filters
from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor
from ansible_collections.htcfarm.bsaas.plugins.module_utils import topology as topo

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
POOL_DOMAIN = 'indigo.example'


def load(inventory_dir):
    """hostvars and groups exactly as a play sees them."""
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[os.path.join(REPO, 'inventories', inventory_dir)])
    variables = VariableManager(loader=loader, inventory=inventory)
    hostvars = dict((host.name, variables.get_vars(host=host)) for host in inventory.get_hosts())
    groups = dict((name, [h.name for h in group.get_hosts()]) for name, group in inventory.groups.items())
    return hostvars, groups


def test_filter_is_registered():
    filters = topology_filters.FilterModule().filters()
    assert set(filters) >= {'bsaas_topology', 'bsaas_topology_host', 'bsaas_topology_inputs',
                            'bsaas_topology_summary'}
    # HTCondor knobs come from the htcondor role alone (condor_host_fragments), not from the topology.
    assert 'bsaas_topology_condor_knobs' not in filters


def test_example_inventory_is_a_consistent_three_site_pool():
    hostvars, groups = load('example')
    topology = topology_filters.bsaas_topology(hostvars, groups)
    assert topology['errors'] == []
    assert sorted(s['name'] for s in topology['sites'].values()) == ['bari', 'bologna', 'torino']
    assert sorted(s['as_number'] for s in topology['sites'].values()) == [65101, 65102, 65103]
    bari = topology_filters.bsaas_topology_host(topology, 'ba-wn01')
    assert bari['htcondor_ccb_address'] == '$(COLLECTOR_HOST)'
    assert bari['htcondor_private_network_name'] == 'bari.indigo'
    # Bari reaches the collector on Torino's public address; Torino's own workers use the private one.
    inputs = topology_filters.bsaas_topology_inputs(topology)
    for host, central_manager in (('ba-wn01', '192.0.2.11'), ('to-wn01', '10.10.0.11')):
        pool = condor.host_fragments(host, groups, topo.role_settings(inputs[host], POOL_DOMAIN))['10-bsaas-pool']
        assert pool['knobs']['CONDOR_HOST'] == central_manager
    submitter = topology_filters.bsaas_topology_host(topology, 'bo-ui1')
    assert submitter['htcondor_ccb_address'] == ''
    ebgp = [(p['peer_host'], p['as_number']) for p in submitter['calico_bgp_peers'] if p['session'] == 'ebgp']
    assert sorted(ebgp) == [('ba-wn01', 65103), ('to-fe1', 65101)]
    lines = topology_filters.bsaas_topology_summary(topology)
    assert len(lines) == 3 and any('bari: AS 65103, NAT masquerade via 203.0.113.10' in l for l in lines)


def test_result_is_plain_data():
    """Ansible variables must be plain types: no OrderedDict, no netaddr objects."""
    hostvars, groups = load('example')
    topology = topology_filters.bsaas_topology(hostvars, groups)

    def walk(value):
        assert type(value) in (dict, list, str, int, bool, float, type(None)), type(value)
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(topology)
    walk(topology_filters.bsaas_topology_inputs(topology))


def test_inputs_written_by_the_role_read_back(role_config_read_back):
    """What bsaas_topology_inputs hands each host of the example, as the htcondor role writes it, read by HTCondor."""
    hostvars, groups = load('example')
    topology = topology_filters.bsaas_topology(hostvars, groups)
    inputs = topology_filters.bsaas_topology_inputs(topology)
    assert sorted(inputs) == sorted(topology['hosts'])
    condor_hosts = sorted(set(groups['htcondor_central_managers'] + groups['htcondor_submitters'] +
                              groups['htcondor_executors']))
    assert condor_hosts
    for host in condor_hosts:
        host_inputs = inputs[host]
        # Exactly the variables deploy_component.yml sets on the host: no knobs of the topology's own.
        assert all(k.startswith(('htcondor_', 'calico_')) for k in host_inputs), sorted(host_inputs)
        param = role_config_read_back(host, groups, topo.role_settings(host_inputs, POOL_DOMAIN))
        assert param['CONDOR_HOST'] == ('10.10.0.11' if host.startswith('to-') else '192.0.2.11')
        assert param['PRIVATE_NETWORK_NAME'] == host_inputs['htcondor_private_network_name']
        if host.startswith('ba-'):
            assert host_inputs['htcondor_ccb_address'] == '$(COLLECTOR_HOST)'
            assert param['CCB_ADDRESS'] == param['COLLECTOR_HOST'] == '192.0.2.11'
        else:
            assert param.get('CCB_ADDRESS', '') == ''
        assert param.get('TCP_FORWARDING_HOST', '') == host_inputs['htcondor_tcp_forwarding_host']
        assert param['USE_SHARED_PORT'] in (True, 'true', 'True') and str(param['SHARED_PORT_PORT']) == '9618'


def test_sandbox_inventory_is_consistent():
    hostvars, groups = load('sandbox')
    topology = topology_filters.bsaas_topology(hostvars, groups)
    assert topology['errors'] == []
    assert topology['central_managers']


def test_broken_example_is_reported_not_raised():
    hostvars, groups = load('example')
    for host in groups['site_bologna']:
        hostvars[host]['bsaas_site_as_number'] = 65101
    topology = topology_filters.bsaas_topology(hostvars, groups)
    assert any('both use AS 65101' in e for e in topology['errors'])


def test_unknown_host_raises_filter_error():
    hostvars, groups = load('example')
    topology = topology_filters.bsaas_topology(hostvars, groups)
    with pytest.raises(AnsibleFilterError, match='not part of the computed topology'):
        topology_filters.bsaas_topology_host(topology, 'nowhere')


def run_preflight(inventory, *extra):
    import subprocess
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    return subprocess.run(['ansible-playbook', '-i', inventory, os.path.join(REPO, 'playbooks', 'site.yml'),
                           '--tags', 'preflight'] + list(extra), cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)


def test_preflight_stops_a_broken_pool_before_touching_hosts(tmp_path):
    """Two sites with one AS: site.yml fails in preflight, naming the sites and the variable, on the controller."""
    import shutil
    inventory = tmp_path / 'inventory'
    shutil.copytree(os.path.join(REPO, 'inventories', 'example'), str(inventory))
    bologna = inventory / 'group_vars' / 'site_bologna.yml'
    bologna.write_text(bologna.read_text().replace('bsaas_site_as_number: 65102', 'bsaas_site_as_number: 65101'))
    result = run_preflight(str(inventory))
    assert result.returncode != 0
    assert 'sites bologna and torino both use AS 65101' in result.stdout, result.stdout[-3000:]
    assert 'bsaas_site_as_number' in result.stdout
    # Nothing ran on any host: the only play that ran tasks is the controller's.
    assert 'to-fe1' not in result.stdout.split('PLAY RECAP')[-1]


def test_preflight_of_the_sandbox_plans_and_changes_nothing():
    result = run_preflight(os.path.join(REPO, 'inventories', 'sandbox'))
    assert result.returncode == 0, result.stdout[-3000:]
    recap = result.stdout.split('PLAY RECAP')[-1]
    assert 'changed=0' in recap and 'changed=1' not in recap
    assert 'skipped: artifacts not reachable: /var/cache/htcfarm-bsaas/artifacts/mesos-1.11.0.tar' in result.stdout
    # The sandbox runs a real pool natively; what it leaves out is named with the reason.
    assert 'htcondor         on bsaas-sandbox-1, bsaas-sandbox-2, bsaas-sandbox-3' in result.stdout
    assert 'lark             skipped: disabled in bsaas_components.lark.enabled' in result.stdout
    # The sandbox is air-gapped: the roles' own fetches point at its local files, so nothing probes the internet.
    for registry in ('quay.io', 'docker.io', 'github.com'):
        assert registry not in result.stdout, registry


def run_playbook(name, inventory, *extra):
    import subprocess
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    return subprocess.run(['ansible-playbook', '-i', os.path.join(REPO, 'inventories', inventory),
                           os.path.join(REPO, 'playbooks', name)] + list(extra), cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)


@pytest.mark.parametrize('name', ['site.yml', 'scale.yml', 'upgrade.yml', 'teardown.yml'])
def test_playbooks_parse_against_the_example(name):
    result = run_playbook(name, 'example', '--syntax-check')
    assert result.returncode == 0, result.stdout[-2000:]


def test_teardown_needs_the_pool_name_to_confirm():
    result = run_playbook('teardown.yml', 'sandbox')
    assert result.returncode != 0
    assert 'bsaas_teardown_confirm=sandbox' in result.stdout, result.stdout[-2000:]
    assert 'bsaas-sandbox-1' not in result.stdout.split('PLAY RECAP')[-1]


def test_scale_refuses_hosts_outside_the_inventory():
    result = run_playbook('scale.yml', 'sandbox', '-e', '{"bsaas_scale_add": ["bsaas-sandbox-9"]}')
    assert result.returncode != 0
    assert 'Unknown here: bsaas-sandbox-9' in result.stdout, result.stdout[-2000:]


def broken_example(tmp_path, all_extra, site_edits=()):
    import shutil
    inventory = tmp_path / 'inventory'
    shutil.copytree(os.path.join(REPO, 'inventories', 'example'), str(inventory))
    all_vars = inventory / 'group_vars' / 'all.yml'
    all_vars.write_text(all_vars.read_text() + all_extra)
    for name, old, new in site_edits:
        path = inventory / 'group_vars' / name
        path.write_text(path.read_text().replace(old, new))
    return str(inventory)


def test_preflight_reports_every_input_mistake_at_once(tmp_path):
    """bsaas_components as a list no longer crashes the message; role inputs and topology fail together."""
    inventory = broken_example(tmp_path, 'bsaas_pool_nmae: atlas\nzookeeper_client_port: 70000\n', [
        ('all.yml', 'bsaas_components:\n  docker:', 'bsaas_components:\n  - docker\nbsaas_components_old:\n  docker:'),
        ('site_bologna.yml', 'bsaas_site_as_number: 65102', 'bsaas_site_as_number: 65101')])
    result = run_preflight(inventory)
    assert result.returncode != 0
    out = ' '.join(result.stdout.split())  # the callback folds long lines
    assert 'fix these and run again' in out, out[-3000:]
    assert "bsaas_components is a list (['docker'])" in out
    assert 'zookeeper_client_port (role zookeeper) 70000 is outside 1-65535' in out
    assert 'sites bologna and torino both use AS 65101' in out
    # The typo is a warning (with the real name) unless strict.
    assert 'bsaas_pool_nmae is not a variable of this collection' in out and 'did you mean bsaas_pool_name?' in out
    assert 'bsaas_components_old is not a variable of this collection' in out
    assert 'to-fe1' not in out.split('PLAY RECAP')[-1]


def test_preflight_strict_variables_refuses_a_typo(tmp_path):
    inventory = broken_example(tmp_path, '', [('site_bari.yml', 'bsaas_site_nat: masquerade',
                                               'bsaas_site_natt: masquerade')])
    lenient = run_preflight(inventory)
    out = ' '.join(lenient.stdout.split())  # the callback folds long lines
    # Without its NAT mode Bari silently counts as routed: a warning with the real name, by default.
    assert lenient.returncode == 0, lenient.stdout[-3000:]
    assert 'bsaas_site_natt is not a variable of this collection' in out and 'did you mean bsaas_site_nat?' in out
    strict = run_preflight(inventory, '-e', '{"bsaas_strict_variables": true}')
    assert strict.returncode != 0
    failure = strict.stdout.split('fix these and run again')[-1]
    assert 'hosts ba-wn01, ba-wn02, ba-wn03, ba-wn04: bsaas_site_natt is not a variable' in failure, strict.stdout[-3000:]
