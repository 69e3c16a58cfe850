#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: lark_policy
short_description: Validate and install the Lark per-job network policy of an execute node
version_added: "0.1.0"
description:
  - Checks a Lark policy (job networks, accounting, bandwidth limits, priorities) and writes it as the
    JSON file that the root-owned C(lark-helper) reads when a job starts.
  - Every input is validated before anything is written, and a job subnet that overlaps a network the
    host already uses (its addresses and routes) is refused, so a wrong policy leaves the host untouched.
  - Supports check mode and diff.
options:
  path:
    description: Where the helper reads its policy.
    type: path
    default: /etc/lark/policy.json
  policy:
    description:
      - The policy. Keys are C(networks), C(default_network), C(job_selectable_networks), C(accounting),
        C(bandwidth), C(priority), C(interface_prefix), C(nft_table), C(state_dir), C(record_dir),
        C(starter_names), C(starter_uids), C(min_job_uid), C(max_jobs), C(mtu). See docs/lark.md.
      - Unknown keys are an error.
    type: dict
    required: true
  check_host_overlaps:
    description: Refuse job subnets that overlap the host's own addresses or routes (read with C(ip -j)).
    type: bool
    default: true
  mode:
    description: File mode of the policy file.
    type: str
    default: "0644"
author:
  - htcfarm.bsaas maintainers (@htcfarm)
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
"""

EXAMPLES = r"""
- name: Give every job a NATed /30 and account campus traffic
  htcfarm.bsaas.lark_policy:
    policy:
      networks:
        nat: {type: nat, subnet: 10.213.0.0/16}
        split: {type: bridge, bridge: br-lark77, subnet: 192.168.77.0/24, gateway: 192.168.77.1,
                vlan: 77, parent: eth1}
      default_network: nat
      job_selectable_networks: [split]
      accounting: {enabled: true, campus_networks: [131.154.0.0/16]}
      bandwidth: {enabled: true, job_rate: 200mbit, rate_per_cpu: 50mbit}
"""

RETURN = r"""
path:
  description: The policy file.
  returned: always
  type: str
policy:
  description: The normalised policy as written (rates in bit, defaults filled in).
  returned: success
  type: dict
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.htcfarm.bsaas.plugins.module_utils.lark import (
    LarkError, check_host_overlaps, host_networks, policy_json, validate_policy)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/lark/policy.json"),
            policy=dict(type="dict", required=True),
            check_host_overlaps=dict(type="bool", default=True),
            mode=dict(type="str", default="0644"),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        policy = validate_policy(module.params["policy"])
        if module.params["check_host_overlaps"]:
            def run(argv):
                rc, out, err = module.run_command(argv)
                if rc != 0:
                    raise OSError(err.strip())
                return json.loads(out or "[]")
            try:
                existing = host_networks(run)
            except (OSError, ValueError) as exc:
                module.warn(f"cannot list the host's networks with 'ip -j' ({exc}); the overlap check was skipped "
                            "(iproute2 before 4.13 has no JSON output)")
                existing = []
            check_host_overlaps(policy, existing)
    except LarkError as exc:
        module.fail_json(msg=str(exc), path=path)

    after = policy_json(policy)
    before = ""
    if os.path.exists(path):
        with open(path) as handle:
            before = handle.read()
    changed = before != after
    result = dict(changed=changed, path=path, policy=policy)
    if module._diff:
        result["diff"] = dict(before=before, after=after, before_header=path, after_header=path)
    if changed and not module.check_mode:
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        tmp = f"{path}.lark-tmp"
        with open(tmp, "w") as handle:
            handle.write(after)
        module.atomic_move(tmp, path)
    result["changed"] = module.set_fs_attributes_if_different(
        module.load_file_common_arguments(dict(path=path, mode=module.params["mode"])), changed) \
        if not module.check_mode and os.path.exists(path) else changed
    module.exit_json(**result)


if __name__ == "__main__":
    main()
