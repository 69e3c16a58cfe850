# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: condor_fragment
short_description: Render HTCondor knobs and metaknobs to configuration text
version_added: "0.1.0"
description:
  - Renders the same O(use)/knobs pair as the C(htcfarm.bsaas.condor_config) module to HTCondor
    configuration text, for templates and container images (C(/root/config/*.conf) in the official images).
  - The input is either the ordered knob mapping, or a mapping with lowercase keys C(knobs), C(use) and
    optionally C(name).
options:
  _input:
    description: Ordered mapping of knob name to value, or a mapping with C(knobs)/C(use)/C(name).
    type: dict
    required: true
  use:
    description: Metaknobs written first, as C(CATEGORY:Template).
    type: list
    elements: str
  name:
    description: Fragment name for the header comment; no header when omitted.
    type: str
"""

EXAMPLES = r"""
- name: Render the execute configuration for an image
  ansible.builtin.copy:
    dest: /root/config/20-bsaas.conf
    content: "{{ {'CONDOR_HOST': 'cm.example', 'CCB_ADDRESS': '$(COLLECTOR_HOST)'} | htcfarm.bsaas.condor_fragment(use=['ROLE: Execute']) }}"
    mode: "0644"

- name: Same, from one mapping
  ansible.builtin.debug:
    msg: "{{ {'use': ['SECURITY: recommended'], 'knobs': {'USE_SHARED_PORT': true}} | htcfarm.bsaas.condor_fragment }}"
"""

RETURN = r"""
_value:
  description: Configuration text ending in a newline.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.htcfarm.bsaas.plugins.module_utils.condor import (
    CondorConfigError, host_fragments, host_roles, missing_features, parse_version, placement_problems, pool_problems,
    render_fragment, security_problems)


def condor_fragment(data, use=None, name=None):
    """HTCondor config text for a knob mapping (or a {knobs, use, name} mapping)."""
    if not isinstance(data, dict):
        raise AnsibleFilterError("condor_fragment: expected a mapping of knobs, got %s" % type(data).__name__)
    if "knobs" in data and set(data) <= {"knobs", "use", "name"}:
        use = data.get("use") if use is None else use
        name = data.get("name") if name is None else name
        data = data["knobs"] or {}
    try:
        return render_fragment(dict(data), list(use or []), name=name)
    except CondorConfigError as error:
        raise AnsibleFilterError("condor_fragment: %s" % error)


def condor_host_fragments(host, groups, settings):
    """The config.d fragments of one host of a native pool (used by the htcondor role)."""
    try:
        return host_fragments(host, dict(groups), dict(settings))
    except (KeyError, ValueError, TypeError) as error:
        raise AnsibleFilterError("condor_host_fragments: %s" % error)


def condor_host_roles(host, groups):
    """central_manager / submitter / executor, from the htcondor_* inventory groups."""
    return host_roles(host, dict(groups))


def condor_pool_problems(groups, hostvars):
    """{errors, warnings} about the pool the inventory describes (used by the htcondor role's preflight)."""
    errors, warnings = pool_problems(dict(groups), hostvars)
    return {"errors": errors, "warnings": warnings}


def condor_placement_problems(host, groups, ccb_address, inbound_reachable, site=""):
    """Errors in this host's own network placement variables (a list, empty when fine)."""
    place = {"ccb_address": ccb_address, "inbound_reachable": inbound_reachable in (True, "true", "True", "yes", 1),
             "site": site}
    return placement_problems(host, host_roles(host, dict(groups)), place)


def condor_version(text):
    """'25.14.1' from condor_version's output, a Debian package version or a series; '' when none."""
    parsed = parse_version(text)
    return ".".join(str(part) for part in parsed) if parsed else ""


def condor_missing_features(version, features):
    """Sentences naming each requested feature this HTCondor version lacks (empty when all are there)."""
    return missing_features(version, list(features or []))


def condor_security_problems(values):
    """Sentences naming effective security settings that weaken the pool (empty when none)."""
    return security_problems(dict(values or {}))


class FilterModule(object):
    def filters(self):
        return {
            "condor_fragment": condor_fragment,
            "condor_missing_features": condor_missing_features,
            "condor_security_problems": condor_security_problems,
            "condor_version": condor_version,
            "condor_host_fragments": condor_host_fragments,
            "condor_host_roles": condor_host_roles,
            "condor_placement_problems": condor_placement_problems,
            "condor_pool_problems": condor_pool_problems,
        }
