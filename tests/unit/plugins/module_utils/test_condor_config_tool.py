# -*- coding: utf-8 -*-
"""The knob check of condor_config without Python bindings: condor_config_val's own default table.

The table is the real output of `CONDOR_CONFIG=/dev/null condor_config_val -dump` from HTCondor 23.9.6
(fixtures/condor_config_val-dump-23.9.6.txt, recorded from Debian trixie's condor package). Python 3.6 and 3.11.
"""
from __future__ import absolute_import, division, print_function

import os

from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'condor_config_val-dump-23.9.6.txt')


def recorded_dump():
    with open(FIXTURE) as handle:
        return handle.read()


class RecordedTool(object):
    """Answers `condor_config_val -dump` with the recorded output and remembers how it was asked."""

    def __init__(self, rc=0, text=None):
        self.rc = rc
        self.text = recorded_dump() if text is None else text
        self.calls = []

    def __call__(self, argv, environ_update=None, **kwargs):
        self.calls.append((list(argv), dict(environ_update or {})))
        return self.rc, self.text, ''


def test_the_dump_is_htcondors_default_table():
    table = condor.knob_table_from_dump(recorded_dump())
    assert len(table) > 1000
    for knob in ('DAEMON_LIST', 'CCB_ADDRESS', 'TRUST_DOMAIN', 'STARTD_NOCLAIM_SHUTDOWN', 'SEC_DEFAULT_AUTHENTICATION_METHODS'):
        assert knob in table
    # Header comments and continuation lines are no knobs.
    assert not any(name.startswith('#') for name in table)


def test_a_misspelt_knob_is_refused_with_only_condor_config_val():
    run = RecordedTool()
    table, why = condor.tool_knob_table(run, '/usr/bin/condor_config_val')
    assert why is None
    # No configuration is read: the table holds HTCondor's defaults, not the host's (or the fragment's) names.
    assert run.calls == [(['/usr/bin/condor_config_val', '-dump'], {'CONDOR_CONFIG': os.devnull})]
    unknown = condor.unknown_knobs(['DAEMON_LSIT', 'STARTD_NOCLAIM_SHUTDOWN', 'CCB_ADRESS'], table)
    assert [name for name, close in unknown] == ['DAEMON_LSIT', 'CCB_ADRESS']
    message = condor.describe_unknown(unknown)
    assert 'DAEMON_LSIT (did you mean DAEMON_LIST' in message
    assert 'CCB_ADRESS (did you mean CCB_ADDRESS' in message


def test_site_macros_subsystem_forms_and_families_stay_known():
    table, _why = condor.tool_knob_table(RecordedTool(), 'condor_config_val')
    assert condor.unknown_knobs(['STARTD.DAEMON_LIST', 'SCHEDD_ADDRESS_FILE', 'SLOT_TYPE_1', 'MY_SITE_MACRO'], table,
                                custom_knobs=['MY_SITE_MACRO']) == []


def test_no_table_is_said_not_guessed():
    table, why = condor.tool_knob_table(RecordedTool(rc=1, text=''), 'condor_config_val')
    assert table is None and 'exited with 1' in why
    table, why = condor.tool_knob_table(RecordedTool(text='DAEMON_LIST = MASTER\n'), 'condor_config_val')
    assert table is None and 'only 1 knobs' in why
