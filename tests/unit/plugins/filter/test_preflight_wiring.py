# -*- coding: utf-8 -*-
"""site.yml's preflight on whole inventories: every role's inputs checked on the controller, what the roles provide
to each other wired from their own declarations, and what they fetch probed through the one shared probe.

These run ansible-playbook on the controller only (connection local where a host is touched at all); network
traffic goes only to a loopback HTTP server the test starts.
"""
from __future__ import absolute_import, division, print_function

import os
import shutil
import subprocess
import sys
import threading

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))

if sys.version_info < (3, 8):
    pytest.skip('needs the controller toolchain (ansible-core 2.16+ in .venv), not the Python 3.6 EL7 one',
                allow_module_level=True)

from http.server import BaseHTTPRequestHandler, HTTPServer  # noqa: E402  pylint: disable=wrong-import-position


def run(inventory, playbook, *extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    result = subprocess.run(['ansible-playbook', '-i', inventory, playbook] + list(extra), cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    # The callback folds long lines; compare on single spaces.
    return result.returncode, ' '.join(result.stdout.split()), result.stdout


def run_preflight(inventory, *extra):
    return run(inventory, os.path.join(REPO, 'playbooks', 'site.yml'), '--tags', 'preflight', *extra)


def example(tmp_path, all_extra='', replace=()):
    inventory = tmp_path / 'inventory'
    shutil.copytree(os.path.join(REPO, 'inventories', 'example'), str(inventory))
    all_vars = inventory / 'group_vars' / 'all.yml'
    text = all_vars.read_text()
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    all_vars.write_text(text + all_extra)
    return str(inventory)


# Keeps the example's one remaining declared URL (download.docker.com) off the network.
NO_DOCKER_URL = ('      - url: https://download.docker.com/linux/centos/docker-ce.repo\n', '      []\n')


class _Registry(BaseHTTPRequestHandler):
    """A registry on loopback that has every image: the manifest API answers 200 (the plan then deploys all)."""

    def _answer(self):
        ok = self.path.startswith('/v2/') and '/manifests/' in self.path
        self.send_response(200 if ok else 404)
        self.send_header('Content-Type', 'application/vnd.docker.distribution.manifest.v2+json')
        self.send_header('Content-Length', '0')
        self.end_headers()

    do_GET = do_HEAD = _answer

    def log_message(self, *args):  # pylint: disable=arguments-differ
        return


def _serve(handler):
    server = HTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


@pytest.fixture
def registry():
    server = _serve(_Registry)
    yield '127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


SHOW_PROVISIONS = """
- name: site.yml
  ansible.builtin.import_playbook: {repo}/playbooks/site.yml

- name: Show what preflight hands over
  hosts: localhost
  gather_facts: false
  tags: [always]
  tasks:
    - name: Show the provisions of a bsaas host and of a worker
      ansible.builtin.debug:
        msg: >-
          HANDED urls={{{{ bsaas_provisions['to-fe2'].bsaas_marathon_url | join(',') }}}}
          user={{{{ bsaas_provisions['to-fe2'].bsaas_marathon_user }}}}
          file={{{{ bsaas_provisions['to-fe2'].bsaas_marathon_password_file }}}}
          etcd={{{{ bsaas_provisions['ba-wn01'].calico_etcd_endpoints | join(',') }}}}
          cert={{{{ bsaas_provisions['ba-wn01'].calico_etcd_cert_src }}}}
"""


def through(registry):
    """Point the example's registry mirror at ``registry``."""
    return [('%s: registry.indigo.example' % name, '%s: "%s"' % (name, registry))
            for name in ('calico_registry', 'mesos_registry', 'marathon_registry', 'bsaas_registry')]


def test_example_preflight_passes_calico_and_bsaas_checks_with_nothing_set_by_hand(tmp_path, registry):
    """Nothing in the example sets calico_etcd_endpoints or bsaas_marathon_url: the etcd and marathon roles'
    declarations provide them, and the roles' own checks pass on the controller for every host; with the images
    found, the plan deploys calico and bsaas."""
    wrapper = tmp_path / 'site-and-show.yml'
    wrapper.write_text(SHOW_PROVISIONS.format(repo=REPO))
    code, out, raw = run(example(tmp_path / 'good', replace=[NO_DOCKER_URL] + through(registry)), str(wrapper),
                         '--tags', 'preflight')
    assert code == 0, raw[-4000:]
    # Handed to a bsaas host: one URL per Marathon host, and the password file the marathon role generates.
    assert ('HANDED urls=https://10.10.0.11:8443,https://10.10.0.12:8443,https://10.10.0.13:8443 '
            'user=bsaas file=') in out, raw[-3000:]
    assert 'good/credentials/inventory/marathon-http-password' in out
    # ... and to a worker, which is no etcd member: the endpoints and the client certificate.
    assert 'etcd=https://10.10.0.11:2379,https://10.10.0.12:2379,https://10.10.0.13:2379 cert=' in out
    assert '/client.crt' in out
    plan = out.split('TASK [Show the plan]')[1]
    assert '+ calico on to-fe1' in plan and '+ bsaas on to-fe1, to-fe2, to-fe3' in plan, plan[:3000]
    assert 'role calico' not in out and 'role bsaas' not in out
    # The checks do run: emptied endpoints and two wrong types in other roles are refused together, each naming
    # the hosts, the variable and the fix (Ansible's ArgumentSpecValidator for the types).
    broken = 'calico_etcd_endpoints: []\nmesos_agent_resource_fraction: lots\nbsaas_marathon_wait_timeout: [1]\n'
    code, out, raw = run_preflight(example(tmp_path / 'bad', broken, [NO_DOCKER_URL] + through(registry)))
    assert code != 0
    failure = out.split('fix these and run again')[-1]
    assert 'hosts to-fe1, to-fe2, to-fe3, to-wn01 and 11 more: role calico: calico_etcd_endpoints=[]' in failure, \
        raw[-4000:]
    assert 'role mesos:' in failure and 'mesos_agent_resource_fraction' in failure
    assert 'role bsaas:' in failure and 'bsaas_marathon_wait_timeout' in failure
    assert 'roles/bsaas/meta/argument_specs.yml' in failure
    assert 'to-fe1 ' not in raw.split('PLAY RECAP')[-1]


def test_without_the_providers_nothing_hands_calico_and_bsaas_their_inputs(tmp_path):
    """etcd and marathon left out: nothing provides the endpoints, the URL or the password, and preflight names
    them for every host (as warnings, since calico and bsaas are then skipped and change nothing)."""
    # The images sit behind a closed loopback port: nothing leaves this machine.
    inventory = example(tmp_path, '', through('127.0.0.1:9') + [
        NO_DOCKER_URL,
        ('  etcd:\n    enabled: true', '  etcd:\n    enabled: false'),
        ('  marathon:\n    enabled: true', '  marathon:\n    enabled: false')])
    code, out, raw = run_preflight(inventory)
    assert code == 0, raw[-4000:]
    warnings = out.split('TASK [Report the input mistakes of components that are skipped]')[1].split('TASK [')[0]
    assert 'role calico: calico_etcd_endpoints=[]: give the etcd client URLs' in warnings, raw[-4000:]
    assert 'hosts to-fe1, to-fe2, to-fe3: role bsaas: bsaas_marathon_url is empty' in warnings
    assert 'role bsaas: bsaas_marathon_password is missing for user' in warnings
    assert 'not fatal now: calico is skipped' in warnings and 'needs etcd' in warnings


class _Refusing(BaseHTTPRequestHandler):
    """A registry that answers nothing useful: every request gets a 503."""
    seen = []

    def _refuse(self):
        self.seen.append(self.path)
        self.send_response(503)
        self.send_header('Content-Length', '0')
        self.end_headers()

    do_GET = do_HEAD = _refuse

    def log_message(self, *args):  # pylint: disable=arguments-differ
        return


@pytest.fixture
def refusing_registry():
    _Refusing.seen = []
    server = _serve(_Refusing)
    yield '127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


IMAGES = ('calico/node:v2.6.12', 'mesosphere/mesos-master:1.11.0', 'mesosphere/mesos-slave:1.11.0',
          'mesosphere/marathon:v1.10.26', 'htcondor/cm:24.0-el9', 'htcondor/submit:24.0-el9',
          'htcondor/execute:24.0-el9')


def test_a_registry_that_answers_nothing_names_every_image_the_roles_would_pull(tmp_path, refusing_registry):
    registry = refusing_registry
    code, out, raw = run_preflight(example(tmp_path, replace=[NO_DOCKER_URL] + through(registry)))
    assert code == 0, raw[-4000:]  # unreachable artifacts skip their component, with the reason
    unreachable = out.split('site.yml preflight: unreachable:')[1].split('TASK [')[0]
    for image in IMAGES:
        assert '%s/%s' % (registry, image) in unreachable, (image, unreachable)
        # The plan names it as the reason its component is skipped.
        assert '%s/%s: unreachable' % (registry, image) in out.split('TASK [Show the plan]')[1]
    assert 'HTTP 503' in unreachable
    # The probe asked the registry's manifest API for each image, through the one shared probe.
    asked = set(_Refusing.seen)
    for image in IMAGES:
        repo, tag = image.split(':')
        assert '/v2/%s/manifests/%s' % (repo, tag) in asked, asked


CERT_PLAYBOOK = """
- name: Preflight, as site.yml runs it
  ansible.builtin.import_playbook: {repo}/playbooks/preflight.yml

- name: What site.yml's calico play does first on a host that is no etcd member
  hosts: workers
  gather_facts: false
  tasks:
    - name: Hand over what the etcd role provides
      ansible.builtin.include_tasks: {repo}/playbooks/tasks/hand_over.yml
      tags: [always]
    - name: Install the etcd client certificate with the calico role's own tasks
      ansible.builtin.import_role:
        name: htcfarm.bsaas.calico
        tasks_from: deploy
    - name: Show the endpoints Calico was handed
      ansible.builtin.debug:
        msg: "endpoints={{{{ calico_etcd_endpoints | join(',') }}}}"
      tags: [always]
"""


def _certificate(directory, name):
    """A real self-signed certificate and key (openssl), standing in for what the etcd role issues."""
    subprocess.check_call(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                           '-nodes', '-days', '1', '-subj', '/CN=%s' % name,
                           '-keyout', str(directory / (name + '.key')), '-out', str(directory / (name + '.crt'))],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.skipif(shutil.which('openssl') is None, reason='needs the openssl command to issue test certificates')
@pytest.mark.skipif(os.geteuid() != 0, reason='needs root: the calico role installs the files owned by root')
def test_etcd_client_certificate_reaches_a_calico_host_that_is_no_etcd_member(tmp_path):
    pki = tmp_path / 'pki'
    pki.mkdir()
    _certificate(pki, 'ca')
    _certificate(pki, 'client')
    calico_dir = tmp_path / 'wn1-calico'
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text("""
all:
  vars:
    bsaas_htcondor_mode: native
    etcd_pki_controller_dir: {pki}
    calico_configure_only: true
    calico_config_dir: {calico_dir}
    # Off the network: a closed loopback port for the image, a host path for calicoctl.
    calico_registry: 127.0.0.1:9
    calico_calicoctl_url: /nonexistent/calicoctl
  children:
    site_lab:
      vars: {{bsaas_site_name: lab, bsaas_site_as_number: 64700, bsaas_site_nat: none,
             bsaas_site_private_networks: [10.99.0.0/16], bsaas_site_calico_pool: 172.31.0.0/20}}
      hosts:
        fe1:
        fe2:
        fe3:
        wn1:
    etcd:
      hosts:
        fe1: {{ansible_host: 10.99.0.1}}
        fe2: {{ansible_host: 10.99.0.2}}
        fe3: {{ansible_host: 10.99.0.3}}
    workers:
      hosts:
        wn1: {{ansible_host: 10.99.0.21, ansible_connection: local, ansible_python_interpreter: {python}}}
""".format(pki=pki, calico_dir=calico_dir, python=sys.executable))
    playbook = tmp_path / 'play.yml'
    playbook.write_text(CERT_PLAYBOOK.format(repo=REPO))
    code, out, raw = run(str(inventory), str(playbook), '--tags', 'calico_etcd_client_certificate')
    assert code == 0, raw[-4000:]
    installed = calico_dir / 'pki'
    assert (installed / 'etcd-client.crt').read_bytes() == (pki / 'client.crt').read_bytes(), raw[-3000:]
    assert (installed / 'etcd-client.key').read_bytes() == (pki / 'client.key').read_bytes()
    assert (installed / 'etcd-ca.crt').read_bytes() == (pki / 'ca.crt').read_bytes()
    assert oct((installed / 'etcd-client.key').stat().st_mode & 0o777) == '0o600'
    # What Calico was handed: the three members' client URLs, TLS since the etcd role runs TLS by default.
    assert 'endpoints=https://10.99.0.1:2379,https://10.99.0.2:2379,https://10.99.0.3:2379' in out, raw[-3000:]
