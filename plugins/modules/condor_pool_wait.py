#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: condor_pool_wait
short_description: Wait until an HTCondor collector shows the expected pool
version_added: "0.1.0"
description:
  - Polls the collector until it shows the central manager's collector and negotiator, every expected schedd and
    at least the requested number of startd hosts, slots and CPUs, or fails after O(timeout) listing exactly what
    is still missing.
  - Queries with the C(htcondor2)/C(htcondor) Python bindings when the module's interpreter has them, otherwise with
    C(condor_status -json).
  - Reads only; never changes anything, so it runs in check mode too.
author:
  - htcfarm.bsaas maintainers (@htcfarm)
options:
  pool:
    description: Collector to ask (C(host) or C(host:port)). Empty means the host's own COLLECTOR_HOST.
    type: str
    default: ""
  central_manager:
    description: Host whose collector and negotiator must be present.
    type: str
  schedds:
    description: Schedd names or hosts that must be present.
    type: list
    elements: str
    default: []
  min_startds:
    description: Minimum number of distinct startd hosts.
    type: int
    default: 0
  min_slots:
    description: Minimum number of slot ads (a partitionable slot and its dynamic slots each count).
    type: int
    default: 0
  min_cpus:
    description: Minimum total CPUs of partitionable and static slots.
    type: int
    default: 0
  negotiator:
    description:
      - Wait until a negotiator reports, on any central manager (with HAD it runs on whichever one holds it).
    type: bool
    default: false
  timeout:
    description: Seconds to wait before failing.
    type: int
    default: 300
  interval:
    description: Seconds between queries.
    type: int
    default: 10
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Wait for the three-site pool
  htcfarm.bsaas.condor_pool_wait:
    central_manager: cm.to.infn.example
    schedds: [submit.to.infn.example]
    min_startds: "{{ groups['htcondor_executors'] | length }}"
    timeout: 600
  delegate_to: "{{ groups['htcondor_central_managers'][0] }}"
  run_once: true
"""

RETURN = r"""
missing:
  description: What the collector did not show (empty on success).
  returned: always
  type: list
  elements: str
  sample: ["schedd submit.ba.infn.example", "3 startd host(s), 2 reporting (wn01.ba.infn.example, wn01.bo.infn.example)"]
collectors:
  description: Hosts of the collector ads seen.
  returned: always
  type: list
  elements: str
schedds:
  description: Names of the schedd ads seen.
  returned: always
  type: list
  elements: str
startds:
  description: Hosts with startd ads.
  returned: always
  type: list
  elements: str
slots:
  description: Number of slot ads.
  returned: always
  type: int
elapsed:
  description: Seconds waited.
  returned: always
  type: int
queried_with:
  description: C(htcondor2), C(htcondor) or C(condor_status).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.htcfarm.bsaas.plugins.module_utils.condor import run_pool_wait


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pool=dict(type="str", default=""),
            central_manager=dict(type="str"),
            schedds=dict(type="list", elements="str", default=[]),
            min_startds=dict(type="int", default=0),
            min_slots=dict(type="int", default=0),
            min_cpus=dict(type="int", default=0),
            negotiator=dict(type="bool", default=False),
            timeout=dict(type="int", default=300),
            interval=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    run_pool_wait(module)


if __name__ == "__main__":
    main()
