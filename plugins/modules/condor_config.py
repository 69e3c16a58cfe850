#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: condor_config
short_description: Manage one HTCondor configuration fragment in config.d
version_added: "0.1.0"
description:
  - Writes one named fragment into HTCondor's C(LOCAL_CONFIG_DIR) from an ordered dict of knobs, with
    metaknob C(use) lines first. C(condor_config) itself is never edited.
  - Before writing, parses the whole configuration with the fragment in place using HTCondor's own
    parser, that is the C(htcondor2) or C(htcondor) Python bindings of the module's interpreter when present,
    otherwise C(condor_config_val) when present, otherwise it writes unvalidated and says so in
    RV(validated_with) and a warning.
  - Refuses knob names HTCondor does not know (its default table, knobs without defaults, knob families
    such as C(STARTD_CRON_*)), because HTCondor silently ignores a misspelt knob.
  - Decides between C(condor_reconfig) and a restart by comparing the effective values of knobs that
    need a restart (C(DAEMON_LIST), C(USE_SHARED_PORT), C(SHARED_PORT_PORT), C(NETWORK_INTERFACE), slot
    layout, ...) before and after the change, metaknob expansions included.
author:
  - htcfarm.bsaas maintainers (@htcfarm)
options:
  name:
    description:
      - Fragment name, for example C(50-ccb). C(.conf) is appended when missing.
      - Fragments are read in lexical order; later ones override earlier ones.
    type: str
    required: true
  config_dir:
    description: HTCondor's local configuration directory.
    type: path
    default: /etc/condor/config.d
  root_config:
    description:
      - The root configuration file, included when validating so that the fragment is checked in context.
    type: path
    default: /etc/condor/condor_config
  system_config_dirs:
    description:
      - Directories of packaged defaults that HTCondor reads before O(config_dir) (the EL and Debian packages set
        C(LOCAL_CONFIG_DIR = /usr/share/condor/config.d,/etc/condor/config.d)). Those that exist are parsed with the
        fragment during validation.
    type: list
    elements: path
    default: [/usr/share/condor/config.d]
  use:
    description:
      - "Metaknobs emitted first, each as C(CATEGORY: Template) without the word C(use),
        for example C(ROLE: Execute) or C(SECURITY: recommended)."
    type: list
    elements: str
    default: []
  knobs:
    description:
      - Ordered mapping of knob name to value. Booleans become C(true)/C(false), lists are joined with
        C(, ). Values are written as given, so macro references such as V($(COLLECTOR_HOST\)) stay references.
    type: dict
    default: {}
  custom_knobs:
    description:
      - Site-defined macro names that are not HTCondor knobs (for example C(POOL_DOMAIN)) and must
        not be refused as unknown.
    type: list
    elements: str
    default: []
  read_back:
    description:
      - Extra knob names whose effective value (after the whole configuration is parsed) is returned in
        RV(effective).
    type: list
    elements: str
    default: []
  state:
    description: Whether the fragment exists.
    type: str
    choices: [present, absent]
    default: present
  validate:
    description: Parse the configuration with HTCondor's parser before writing, and refuse unknown knobs.
    type: bool
    default: true
  apply:
    description:
      - What to do after a change. C(auto) restarts when a restart knob changed and reconfigures otherwise;
        C(none) leaves it to the caller (for example a handler). Nothing is applied in check mode.
    type: str
    choices: [auto, reconfig, restart, none]
    default: auto
  service:
    description: Systemd unit restarted when a restart is needed.
    type: str
    default: condor
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    support: full
    platforms: posix
notes:
  - Unknown knobs are refused whichever parser the host has. With the Python bindings (C(htcondor2) from the
    C(htcondor) wheel 23.x and later, or C(htcondor) on EL7 with HTCondor 23.0) the default table is
    C(htcondor.param); with only C(condor_config_val) it is what C(CONDOR_CONFIG=/dev/null condor_config_val -dump)
    prints, the same table. When that table cannot be read the module fails rather than write unchecked names.
seealso:
  - name: HTCondor configuration macros
    description: The knob reference.
    link: https://htcondor.readthedocs.io/en/latest/admin-manual/configuration-macros.html
"""

EXAMPLES = r"""
- name: Make this host an execute point reachable through CCB
  htcfarm.bsaas.condor_config:
    name: 20-role
    use:
      - "ROLE: Execute"
      - "SECURITY: recommended"
    knobs:
      CONDOR_HOST: cm.to.infn.example
      CCB_ADDRESS: $(COLLECTOR_HOST)
      PRIVATE_NETWORK_NAME: torino
      USE_SHARED_PORT: true

- name: Add a perfSONAR cron job, reconfig only, leave the restart decision to a handler
  htcfarm.bsaas.condor_config:
    name: 60-perfsonar
    knobs:
      STARTD_CRON_JOBLIST: $(STARTD_CRON_JOBLIST) PERFSONAR
      STARTD_CRON_PERFSONAR_EXECUTABLE: /usr/libexec/bsaas/perfsonar-ad
      STARTD_CRON_PERFSONAR_PERIOD: 10m
      STARTD_CRON_PERFSONAR_MODE: Periodic
    apply: none
  notify: Reconfigure HTCondor

- name: Remove an old fragment
  htcfarm.bsaas.condor_config:
    name: 99-legacy
    state: absent
"""

RETURN = r"""
path:
  description: Full path of the fragment.
  returned: always
  type: str
  sample: /etc/condor/config.d/20-role.conf
validated_with:
  description: The parser that checked the configuration, C(htcondor2), C(htcondor), C(condor_config_val) or C(none).
  returned: always
  type: str
  sample: htcondor2
applied:
  description: What was done after the change, C(reconfig), C(restart) or C(none).
  returned: always
  type: str
  sample: reconfig
restart_required:
  description: Whether the change touches a knob that only a restart applies.
  returned: always
  type: bool
  sample: false
effective:
  description: >-
    Effective values of the fragment's knobs (and O(read_back)) as HTCondor's parser reads the whole configuration.
    An unchanged fragment is not parsed again unless O(read_back) names knobs.
  returned: when validated with a parser
  type: dict
  sample: {"CCB_ADDRESS": "cm.to.infn.example", "USE_SHARED_PORT": "true"}
unknown_knobs:
  description: Knob names refused as unknown.
  returned: on failure because of unknown knobs
  type: list
  elements: str
diff:
  description: Fragment text before and after.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.htcfarm.bsaas.plugins.module_utils.condor import run_condor_config


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            config_dir=dict(type="path", default="/etc/condor/config.d"),
            root_config=dict(type="path", default="/etc/condor/condor_config"),
            system_config_dirs=dict(type="list", elements="path", default=["/usr/share/condor/config.d"]),
            use=dict(type="list", elements="str", default=[]),
            knobs=dict(type="dict", default={}),
            custom_knobs=dict(type="list", elements="str", default=[]),
            read_back=dict(type="list", elements="str", default=[]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            validate=dict(type="bool", default=True),
            apply=dict(type="str", choices=["auto", "reconfig", "restart", "none"], default="auto"),
            service=dict(type="str", default="condor"),
        ),
        supports_check_mode=True,
    )
    run_condor_config(module)


if __name__ == "__main__":
    main()
