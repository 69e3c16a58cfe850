#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: marathon_app
short_description: Create, update, scale, restart or delete a Marathon app
description:
  - Manages one long-running app through Marathon's v2 REST API (C(/v2/apps/{id}), C(/v2/deployments)).
  - Idempotent by comparison. The current app is fetched and fields Marathon fills itself (version, task
    counts, deployments, defaults the definition does not mention) are ignored. A write happens only on a
    difference. Keys of C(env), C(labels) and C(secrets) are compared exactly, so a removed variable is
    removed on the server.
  - Waits until the deployment leaves C(/v2/deployments). On timeout it fails with the app's last task
    failure, so a broken image or a failing health check is named in the error.
  - HTTP 409 (a deployment holds the lock) is retried for O(lock_timeout) seconds, then fails or, with
    O(force=true), cancels the running deployment. HTTP 422 fails with every offending field path.
version_added: 0.1.0
author:
  - htcfarm.bsaas maintainers (@htcfarm)
options:
  url:
    description:
      - Marathon base URL(s), for example V(https://fe1.example.org:8443). With several, the next is tried
        when one cannot be reached; any Marathon proxies writes to the leader.
    type: list
    elements: str
    required: true
  app_id:
    description: Absolute app id, for example V(/bsaas/atlas/execute). A missing leading slash is added.
    type: str
    required: true
    aliases: [id]
  state:
    description:
      - V(present) creates or updates the app from O(definition), or only scales it when just O(instances) is
        given. V(restarted) starts a rolling restart. V(absent) deletes it.
    type: str
    choices: [present, absent, restarted]
    default: present
  definition:
    description:
      - The app definition as Marathon's C(AppDefinition) schema describes it. Its C(id) is replaced by
        O(app_id). The whole definition is sent (C(partialUpdate=false)), so fields left out return to
        Marathon's defaults.
    type: dict
  instances:
    description: Number of instances. Overrides C(instances) in O(definition); alone, it only scales.
    type: int
  force:
    description: Cancel a deployment that holds the lock instead of failing once O(lock_timeout) has passed.
    type: bool
    default: false
  wait:
    description: Wait for the deployment to finish.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the deployment before failing with the last task failure.
    type: int
    default: 600
  lock_timeout:
    description: Seconds to keep retrying while Marathon answers 409 (locked by another deployment).
    type: int
    default: 60
  poll_interval:
    description: Seconds between two polls of C(/v2/deployments) or two retries after a 409.
    type: float
    default: 2.0
  username:
    description: User for HTTP basic authentication (Marathon C(--http_credentials)).
    type: str
  password:
    description: Password for HTTP basic authentication. Keep it in Ansible Vault.
    type: str
  validate_certs:
    description: Verify the TLS certificate of Marathon. Turn off only for a throw-away test pool.
    type: bool
    default: true
  ca_path:
    description: PEM file of the CA that signed Marathon's certificate.
    type: path
  client_cert:
    description: PEM client certificate, when Marathon sits behind a proxy that demands one.
    type: path
  client_key:
    description: Key of O(client_cert).
    type: path
  timeout:
    description: Seconds for one HTTP request.
    type: int
    default: 30
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
  - Tested against Marathon 1.10's v2 API shapes. Runs on Python 3.6 and later.
seealso:
  - name: Marathon REST API
    description: Upstream reference of the v2 endpoints.
    link: https://mesosphere.github.io/marathon/api-console/index.html
"""

EXAMPLES = r"""
- name: Run the executors of the atlas pool
  htcfarm.bsaas.marathon_app:
    url: https://fe1.example.org:8443
    username: bsaas
    password: "{{ vault_marathon_password }}"
    ca_path: /etc/pki/bsaas/ca.pem
    app_id: /bsaas/atlas/execute
    definition: "{{ lookup('ansible.builtin.file', 'execute.json') | from_json }}"
  no_log: true

- name: Scale the executors to 40
  htcfarm.bsaas.marathon_app:
    url: https://fe1.example.org:8443
    app_id: /bsaas/atlas/execute
    instances: 40

- name: Rolling restart after a configuration change
  htcfarm.bsaas.marathon_app:
    url: https://fe1.example.org:8443
    app_id: /bsaas/atlas/cm
    state: restarted

- name: Remove the pool's submitter, cancelling a stuck deployment
  htcfarm.bsaas.marathon_app:
    url: https://fe1.example.org:8443
    app_id: /bsaas/atlas/submit
    state: absent
    force: true
"""

RETURN = r"""
app_id:
  description: The normalised app id.
  returned: always
  type: str
  sample: /bsaas/atlas/execute
app:
  description: The app after the change, without server-filled fields; null after deletion.
  returned: always
  type: dict
  sample: {"id": "/bsaas/atlas/execute", "instances": 4, "cpus": 1.0}
deployment_id:
  description: Id of the deployment Marathon started, null when nothing changed.
  returned: always
  type: str
  sample: 5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43
diff:
  description: The app before and after (also shown with --diff).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.htcfarm.bsaas.plugins.module_utils.marathon import (
    MarathonClient,
    MarathonError,
    ensure_app,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="list", elements="str", required=True),
            app_id=dict(type="str", required=True, aliases=["id"]),
            state=dict(type="str", default="present", choices=["present", "absent", "restarted"]),
            definition=dict(type="dict"),
            instances=dict(type="int"),
            force=dict(type="bool", default=False),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=600),
            lock_timeout=dict(type="int", default=60),
            poll_interval=dict(type="float", default=2.0),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            client_cert=dict(type="path"),
            client_key=dict(type="path", no_log=False),
            timeout=dict(type="int", default=30),
        ),
        required_together=[["username", "password"], ["client_cert", "client_key"]],
        supports_check_mode=True,
    )
    params = module.params
    if params["instances"] is not None and params["instances"] < 0:
        module.fail_json(msg="instances must be 0 or more, got %d." % params["instances"])
    try:
        client = MarathonClient(
            params["url"], username=params["username"], password=params["password"],
            validate_certs=params["validate_certs"], ca_path=params["ca_path"],
            client_cert=params["client_cert"], client_key=params["client_key"], timeout=params["timeout"])
        result = ensure_app(
            client, params["app_id"], state=params["state"], definition=params["definition"],
            instances=params["instances"], force=params["force"], check_mode=module.check_mode,
            wait=params["wait"], wait_timeout=params["wait_timeout"], lock_timeout=params["lock_timeout"],
            interval=params["poll_interval"])
    except MarathonError as err:
        module.fail_json(msg=err.message, status=err.status, response=err.body)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
