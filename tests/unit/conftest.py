# -*- coding: utf-8 -*-
"""Fixtures shared by the unit tests; kept Python 3.6 compatible (the EL7 run uses .venv36)."""
from __future__ import absolute_import, division, print_function

import itertools
import os

import pytest

# The knobs the network placement and the role's fragments decide; read_back returns those HTCondor defines.
READ_BACK_KNOBS = ('CONDOR_HOST', 'COLLECTOR_HOST', 'CCB_ADDRESS', 'CCB_HEARTBEAT_INTERVAL', 'PRIVATE_NETWORK_NAME',
                   'TCP_FORWARDING_HOST', 'USE_SHARED_PORT', 'SHARED_PORT_PORT', 'DAEMON_LIST', 'TRUST_DOMAIN')


@pytest.fixture
def role_config_read_back(tmp_path):
    """read_back(host, groups, settings) -> {knob: value} as HTCondor's own parser reads the host's config.d.

    The config.d is what the htcondor role writes: condor.host_fragments(host, groups, settings), each
    fragment rendered by condor.render_fragment into its own file, under a root file that only sets
    LOCAL_CONFIG_DIR. The parse runs in this process (htcondor2.reload_config), as the topology tests always
    did; CONDOR_CONFIG is restored afterwards.
    """
    htcondor2 = pytest.importorskip('htcondor2', reason='needs the htcondor 25 wheel (htcondor2), absent on 3.6')
    from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor
    saved = os.environ.get('CONDOR_CONFIG')
    counter = itertools.count()

    def read_back(host, groups, settings, knobs=READ_BACK_KNOBS, distro_files=None):
        """distro_files: {file name: text} the package itself put in config.d (read in name order too)."""
        base = tmp_path / ('%s-%d' % (host, next(counter)))
        config_dir = base / 'config.d'
        config_dir.mkdir(parents=True)
        for name, text in (distro_files or {}).items():
            (config_dir / name).write_text(text)
        for name, fragment in condor.host_fragments(host, groups, settings).items():
            text = condor.render_fragment(knobs=fragment['knobs'], use=fragment['use'], name=name)
            (config_dir / condor.fragment_file_name(name)).write_text(text)
        root = base / 'condor_config'
        root.write_text('LOCAL_CONFIG_DIR = %s\n' % config_dir)
        os.environ['CONDOR_CONFIG'] = str(root)
        htcondor2.reload_config()
        values = {}
        for knob in knobs:
            try:
                values[knob] = htcondor2.param[knob]
            except KeyError:
                continue
        return values

    yield read_back
    if saved is None:
        os.environ.pop('CONDOR_CONFIG', None)
    else:
        os.environ['CONDOR_CONFIG'] = saved


@pytest.fixture
def perfsonar_entry_point(tmp_path):
    """run(script, config_path, *args) -> CompletedProcess: one of roles/perfsonar_ingest/files/ installed
    beside plugins/module_utils/perfsonar.py, as the role installs them, and run in a bare interpreter."""
    import shutil
    import subprocess
    import sys
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
    install = tmp_path / 'libexec'
    install.mkdir()
    shutil.copy(os.path.join(repo, 'plugins', 'module_utils', 'perfsonar.py'), str(install / 'perfsonar.py'))

    def run(script, config_path, *args):
        if not (install / script).exists():
            shutil.copy(os.path.join(repo, 'roles', 'perfsonar_ingest', 'files', script), str(install / script))
        return subprocess.run([sys.executable, '-I', '-S', str(install / script), '--config', str(config_path)]
                              + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=60, check=False)
    return run
