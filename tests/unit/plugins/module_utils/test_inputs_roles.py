# -*- coding: utf-8 -*-
"""Role-level preflight checks and the roles' provisions (module_utils/inputs.py) on plain values; Python 3.6 and
3.11. The resolver here is a dict per (host, role), standing in for the controller's rendering of role values."""
from __future__ import absolute_import, division, print_function

import os

import pytest
import yaml

from ansible_collections.htcfarm.bsaas.plugins.module_utils import inputs

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


@pytest.fixture(scope='module')
def interface():
    return inputs.scan_collection(REPO, yaml.safe_load)


def resolver(table):
    def resolve(host, role, names):
        values = table.get((host, role), {})
        return dict((n, values[n]) for n in names if n in values)
    return resolve


def test_argument_spec_is_validated_with_ansibles_validator(interface):
    resolve = resolver({('a', 'zookeeper'): {'zookeeper_client_port': 'many', 'zookeeper_install_method': 'pip'}})
    found = inputs.check_roles([('zookeeper', ['a'])], interface, resolve)['zookeeper']
    text = ' '.join(found)
    assert 'host a: role zookeeper:' in text
    assert 'zookeeper_client_port' in text and 'zookeeper_install_method' in text
    assert 'roles/zookeeper/meta/argument_specs.yml' in text


def test_values_the_controller_cannot_know_are_not_reported_missing(interface):
    # Nothing resolved at all: no "missing required" noise, no checks judged.
    assert inputs.check_roles([('calico', ['a']), ('marathon', ['a'])], interface, resolver({})) == {
        'calico': [], 'marathon': []}


def test_the_roles_checks_name_every_host_once_per_problem(interface):
    bad = {'calico_etcd_endpoints': [], 'calico_ip_pools': [{'cidr': '10.233.0.0/16'}],
           'calico_etcd_ca_file': '/x', 'calico_etcd_cert_file': '', 'calico_etcd_key_file': ''}
    resolve = resolver(dict(((h, 'calico'), bad) for h in ('a', 'b', 'c')))
    found = inputs.check_roles([('calico', ['a', 'b', 'c'])], interface, resolve)['calico']
    assert found[0].startswith('hosts a, b, c: role calico: calico_etcd_endpoints=[]')
    assert any('go together' in line for line in found)


def test_role_checks_skip_what_they_cannot_read():
    assert inputs.role_problems('bsaas', {'bsaas_marathon_user': 'bsaas'}) == []
    problems = inputs.role_problems('bsaas', {'bsaas_marathon_user': 'bsaas', 'bsaas_marathon_password_file': '',
                                             'bsaas_marathon_password': ''})
    assert problems and 'bsaas_marathon_password is missing' in problems[0]
    assert inputs.role_problems('bsaas', {'bsaas_marathon_user': 'bsaas', 'bsaas_marathon_password_file': '/f'}) == []
    assert inputs.role_problems('marathon', {'marathon_features': ['vips', 'teleport']})[0].startswith(
        'marathon_features has unknown entries teleport')


def test_provisions_go_to_every_consumer_host_unless_the_inventory_sets_them():
    provides = {'calico': {'once': {'calico_etcd_endpoints': ['https://e1:2379'], 'calico_etcd_cert_src': '/c'}}}
    marathon = dict((h, {'marathon_provides': {'bsaas': {
        'each': {'bsaas_marathon_url': 'https://%s:8443' % h}, 'once': {'bsaas_marathon_user': 'bsaas'},
        'secrets': {'bsaas_marathon_password': ''}}}}) for h in ('m1', 'm2'))
    table = {('e1', 'etcd'): {'etcd_provides': provides}}
    table.update(((h, 'marathon'), v) for h, v in marathon.items())
    handed, secrets = inputs.provisions(
        [('etcd', ['e1']), ('marathon', ['m1', 'm2'])], {'calico': ['e1', 'w1', 'w2'], 'bsaas': ['m1', 'm2']},
        resolver(table), lambda host, name: host == 'w2' and name == 'calico_etcd_endpoints')
    # Not only the etcd member: every Calico host gets the endpoints and the client certificate.
    assert handed['w1'] == {'calico_etcd_endpoints': ['https://e1:2379'], 'calico_etcd_cert_src': '/c'}
    assert handed['w2'] == {'calico_etcd_cert_src': '/c'}  # its inventory sets the endpoints itself
    assert handed['m2']['bsaas_marathon_url'] == ['https://m1:8443', 'https://m2:8443']
    assert 'bsaas_marathon_password' not in handed['m1'] and secrets == []


def test_role_verdicts_follow_the_plan():
    verdict = inputs.role_verdicts({'calico': ['x'], 'bsaas': ['y']},
                                   [{'name': 'calico', 'deploy': True}, {'name': 'bsaas', 'deploy': False,
                                                                         'reason': 'needs marathon'}])
    assert verdict['errors'] == ['x']
    assert verdict['warnings'] == ['y (not fatal now: bsaas is skipped, needs marathon)']
