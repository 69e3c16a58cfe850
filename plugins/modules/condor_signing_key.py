#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: condor_signing_key
short_description: Keep an HTCondor IDTOKENS signing key (passwords.d/POOL) generated once or given
version_added: "0.1.0"
description:
  - Makes sure the pool signing key file exists with mode C(0600), owned by root.
  - Without O(content), generates a key only when the file is missing (or O(rotate=true)), so the key made on the
    primary central manager on the first run stays the pool's key. The key is a random secret written in the
    scrambled format C(condor_store_cred) uses.
  - With O(content) (base64 of the key file's bytes, for example read with RV(content) from the primary central
    manager, or a site's own vaulted key), writes exactly those bytes. This is how the fall-back central manager
    gets the same key.
  - The key never appears in the diff or the log; callers must still set C(no_log=true) when they use
    O(content) or O(return_content).
author:
  - htcfarm.bsaas maintainers (@htcfarm)
options:
  path:
    description: Key file. HTCondor's C(SEC_TOKEN_POOL_SIGNING_KEY_FILE).
    type: path
    default: /etc/condor/passwords.d/POOL
  content:
    description: Base64 of the key file's bytes. Omit to generate once.
    type: str
  rotate:
    description:
      - Replace an existing key with a new random one. Every token signed with the old key stops working;
        mint and distribute new tokens in the same run.
    type: bool
    default: false
  backup:
    description: Keep a timestamped copy of a replaced key next to it.
    type: bool
    default: true
  return_content:
    description: Return the key as base64 in RV(content), to distribute it. Use with C(no_log=true).
    type: bool
    default: false
  state:
    description: Whether the key file exists.
    type: str
    choices: [present, absent]
    default: present
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
- name: Generate the pool signing key once, on the primary central manager
  htcfarm.bsaas.condor_signing_key:
    return_content: true
  register: pool_key
  no_log: true

- name: Give the fall-back central manager the same key
  htcfarm.bsaas.condor_signing_key:
    content: "{{ pool_key.content }}"
  no_log: true
"""

RETURN = r"""
path:
  description: Key file.
  returned: always
  type: str
generated:
  description: Whether a new random key was made in this run.
  returned: always
  type: bool
content:
  description: Base64 of the key file's bytes.
  returned: when O(return_content=true)
  type: str
backup_file:
  description: Copy of the replaced key.
  returned: when a key was replaced and O(backup=true)
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.htcfarm.bsaas.plugins.module_utils.condor import run_signing_key


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/condor/passwords.d/POOL"),
            content=dict(type="str", no_log=True),
            rotate=dict(type="bool", default=False),
            backup=dict(type="bool", default=True),
            return_content=dict(type="bool", default=False),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    run_signing_key(module)


if __name__ == "__main__":
    main()
