# -*- coding: utf-8 -*-
"""The configuration the htcondor role writes for the HTCondor version a host runs."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor

GROUPS = {'htcondor_central_managers': ['cm1', 'cm2'], 'htcondor_submitters': ['sub1'],
          'htcondor_executors': ['wn1']}
# Debian's and Ubuntu's 23.x packages install this file (config.d/00-htcondor-9.0.config).
DEBIAN_9_0_FRAGMENT = {'00-htcondor-9.0.config': 'use security:recommended_v9_0\n'}
SECURITY_KNOBS = ('SEC_DEFAULT_AUTHENTICATION', 'SEC_DEFAULT_ENCRYPTION', 'SEC_DEFAULT_INTEGRITY',
                  'SEC_READ_ENCRYPTION', 'SEC_READ_INTEGRITY', 'SEC_READ_AUTHENTICATION', 'ALLOW_WRITE',
                  'ALLOW_DAEMON', 'ALLOW_ADMINISTRATOR', 'ALLOW_NEGOTIATOR', 'ALLOW_READ')


def settings(**extra):
    base = {'pool_domain': 'bsaas.example', 'slot_users': ['bsaas-slot1', 'bsaas-slot2']}
    base.update(extra)
    return base


@pytest.mark.parametrize('text, expected', [
    ('$CondorVersion: 25.14.1 2026-10-16 PackageID: 25.14.1+dfsg-1 $', (25, 14, 1)),
    ('23.9.6+dfsg-2', (23, 9, 6)),
    ('25.0', (25, 0, 0)),
    ('', None),
    ('(none)', None),
])
def test_versions_are_read_from_condor_version_packages_and_series(text, expected):
    assert condor.parse_version(text) == expected


def test_recommended_security_only_from_23_10():
    assert condor.security_metaknobs('25.14.1') == ['SECURITY: recommended']
    assert condor.security_metaknobs('23.10.0') == ['SECURITY: recommended']
    assert condor.security_metaknobs('23.9.6') == []
    assert condor.security_metaknobs('23.0.12') == []
    assert condor.security_metaknobs('25.14.1', 'explicit') == []
    # Unknown version: what the default series installs.
    assert condor.security_metaknobs('') == ['SECURITY: recommended']


def test_missing_features_name_the_release_that_has_them():
    assert condor.missing_features('25.14.1', ['no_job_networking', 'security_recommended']) == []
    problems = condor.missing_features('23.9.6', ['no_job_networking', 'security_recommended'])
    assert problems == ['no_job_networking needs HTCondor 24.7.0 or later, this host gets 23.9.6',
                        'security_recommended needs HTCondor 23.10.0 or later, this host gets 23.9.6']
    assert 'not a feature the role knows' in condor.missing_features('25.0', ['lark'])[0]


def test_security_problems_catch_open_writers_and_optional_encryption():
    assert condor.security_problems({'ALLOW_WRITE': '*@bsaas.example', 'SEC_DEFAULT_ENCRYPTION': 'required'}) == []
    problems = condor.security_problems({'ALLOW_WRITE': '*', 'ALLOW_DAEMON': 'condor@x, *',
                                         'SEC_DEFAULT_INTEGRITY': 'OPTIONAL'})
    assert len(problems) == 3
    assert any(p.startswith('ALLOW_WRITE') for p in problems)
    assert any(p.startswith('SEC_DEFAULT_INTEGRITY') for p in problems)


def test_job_identity_knobs():
    slot = condor.job_identity_knobs('slot_users', ['bsaas-slot1', 'bsaas-slot2'])
    assert slot['STARTER_ALLOW_RUNAS_OWNER'] is False
    assert slot['SLOT1_1_USER'] == 'bsaas-slot1' and slot['SLOT1_2_USER'] == 'bsaas-slot2'
    assert slot['DEDICATED_EXECUTE_ACCOUNT_REGEXP'] == 'bsaas-slot1|bsaas-slot2'
    assert condor.job_identity_knobs('submitter', []) == {'TRUST_UID_DOMAIN': True, 'SOFT_UID_DOMAIN': False}
    with pytest.raises(ValueError):
        condor.job_identity_knobs('nobody', ['bsaas-slot1'])
    with pytest.raises(ValueError):
        condor.job_identity_knobs('slot_users', ['Bad User'])


@pytest.mark.parametrize('version', ['25.14.1', '23.9.6', '23.0.12'])
@pytest.mark.parametrize('host', ['cm1', 'sub1', 'wn1'])
def test_the_distribution_fragment_does_not_weaken_the_pool(role_config_read_back, version, host):
    """Read back by HTCondor's parser, with Debian's own 9.0 security fragment loaded first."""
    values = role_config_read_back(host, GROUPS, settings(version=version), knobs=SECURITY_KNOBS,
                                   distro_files=DEBIAN_9_0_FRAGMENT)
    for knob in ('SEC_DEFAULT_AUTHENTICATION', 'SEC_DEFAULT_ENCRYPTION', 'SEC_DEFAULT_INTEGRITY',
                 'SEC_READ_ENCRYPTION', 'SEC_READ_INTEGRITY'):
        assert str(values[knob]).upper() == 'REQUIRED', (knob, values)
    assert str(values['SEC_READ_AUTHENTICATION']).upper() == 'OPTIONAL'
    assert values['ALLOW_WRITE'] == '*@bsaas.example'
    assert values['ALLOW_DAEMON'] == 'condor@bsaas.example'
    assert condor.security_problems(values) == []


def test_without_the_role_the_distribution_fragment_lets_anybody_write(role_config_read_back):
    """The control: the same parse without the role's knobs shows what they correct."""
    values = role_config_read_back('wn1', GROUPS, settings(version='23.9.6', extra_knobs={}), knobs=SECURITY_KNOBS,
                                   distro_files=DEBIAN_9_0_FRAGMENT)
    assert values['ALLOW_WRITE'] != '*'
    saved = dict(condor.POOL_SECURITY_KNOBS)
    try:
        condor.POOL_SECURITY_KNOBS.clear()
        bare = role_config_read_back('wn1', GROUPS, settings(version='23.9.6'), knobs=SECURITY_KNOBS,
                                     distro_files=DEBIAN_9_0_FRAGMENT)
    finally:
        condor.POOL_SECURITY_KNOBS.update(saved)
    assert bare['ALLOW_WRITE'] == '*'
    assert str(bare['SEC_READ_ENCRYPTION']).upper() == 'OPTIONAL'
    assert condor.security_problems(bare)


def test_executor_identity_reads_back(role_config_read_back):
    knobs = ('STARTER_ALLOW_RUNAS_OWNER', 'SLOT1_1_USER', 'SLOT1_2_USER', 'TRUST_UID_DOMAIN')
    slot = role_config_read_back('wn1', GROUPS, settings(version='25.14.1'), knobs=knobs)
    assert slot['SLOT1_2_USER'] == 'bsaas-slot2' and str(slot['STARTER_ALLOW_RUNAS_OWNER']).lower() == 'false'
    owner = role_config_read_back('wn1', GROUPS, settings(job_identity='submitter'), knobs=knobs)
    assert str(owner['TRUST_UID_DOMAIN']).lower() == 'true' and 'SLOT1_1_USER' not in owner


def test_fall_back_keeps_the_negotiator_and_matches_from_its_own_collector(role_config_read_back):
    knobs = ('HAD_USE_PRIMARY', 'NEGOTIATOR.COLLECTOR_HOST')
    assert role_config_read_back('cm2', GROUPS, settings(), knobs=knobs) == {
        'HAD_USE_PRIMARY': False, 'NEGOTIATOR.COLLECTOR_HOST': 'cm2'}
