# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the mesos role uses to check and render Mesos flags."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: mesos_flag_errors
short_description: List the Mesos 1.11 flags that mesos-master or mesos-agent would reject
description:
  - Checks a mapping of flag name to value against the flag tables of Mesos 1.11 and returns one sentence per
    unknown flag (with the closest real flag), non-boolean value of a boolean flag, or empty value.
  - The same file provides C(mesos_env) (MESOS_* environment pairs), C(mesos_quorum), C(mesos_zk_url),
    C(mesos_agent_resources) and C(mesos_attributes).
positional: daemon
options:
  _input:
    description: Mapping of flag name (without dashes) to value.
    type: dict
    required: true
  daemon:
    description: C(master) or C(agent).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Fail on a typo in a flag
  ansible.builtin.assert:
    that: (mesos_master_flags | htcfarm.bsaas.mesos_flag_errors('master')) | length == 0
"""

RETURN = r"""
_value:
  description: Error sentences; empty when every flag is valid.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.htcfarm.bsaas.plugins.module_utils import mesos


def _guard(function):
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (ValueError, TypeError) as err:
            raise AnsibleFilterError("%s: %s" % (function.__name__, err))
    wrapper.__name__ = function.__name__
    return wrapper


def mesos_flag_errors(flags, daemon):
    return mesos.flag_errors(daemon, flags)


def mesos_env(flags):
    """Mapping of MESOS_<FLAG> to its string value."""
    return dict(mesos.flags_to_env(flags or {}))


class FilterModule(object):
    def filters(self):
        return {
            "mesos_flag_errors": _guard(mesos_flag_errors),
            "mesos_env": _guard(mesos_env),
            "mesos_quorum": _guard(mesos.quorum_size),
            "mesos_zk_url": _guard(mesos.zk_url),
            "mesos_agent_resources": _guard(mesos.agent_resources),
            "mesos_attributes": _guard(mesos.attributes_string),
        }
