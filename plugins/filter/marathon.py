# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn a BSaaS instance into Marathon app definitions and HTCondor config for its containers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: marathon_bsaas_apps
short_description: Marathon app definitions (central manager, submitter, executors) for one BSaaS instance
description:
  - Builds the three Marathon apps of one HTCondor pool from the official C(htcondor/cm), C(htcondor/submit) and
    C(htcondor/execute) images, on the instance's Calico network, with Mesos-level health checks, placement
    constraints (submitter pinned, executors spread) and secrets mounted read-only from a root-only directory on
    the agent, so no secret appears in the app JSON.
  - The same file provides C(marathon_bsaas_condor_config) (HTCondor config text per daemon group, rendered with
    the collection's condor_fragment code).
options:
  _input:
    description: One entry of C(bsaas_instances) (name, subnet, executors, submit_host, ...).
    type: dict
    required: true
  settings:
    description: Deployment-wide settings (images, host directory, resources, health-check timing).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Show the apps of the atlas pool
  ansible.builtin.debug:
    msg: "{{ {'name': 'atlas', 'subnet': '10.233.8.0/24', 'executors': 4, 'submit_host': 'fe1'}
             | htcfarm.bsaas.marathon_bsaas_apps(bsaas_app_settings) }}"
"""

RETURN = r"""
_value:
  description: Three Marathon app definitions (cm, submit, execute), valid against AppDefinition.json.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.htcfarm.bsaas.plugins.module_utils import calico
from ansible_collections.htcfarm.bsaas.plugins.module_utils import inputs
from ansible_collections.htcfarm.bsaas.plugins.module_utils.condor import CondorConfigError, render_fragment

DAEMON_GROUPS = ("cm", "submit", "execute")
SHARED_PORT = 9618
DEFAULT_SETTINGS = {
    "app_group": "/bsaas",
    "host_dir": "/etc/bsaas",
    "images": {"cm": "htcondor/cm:latest", "submit": "htcondor/submit:latest", "execute": "htcondor/execute:latest"},
    "force_pull": False,
    "resources": {"cm": {"cpus": 1, "mem": 2048, "disk": 0}, "submit": {"cpus": 2, "mem": 4096, "disk": 0},
                  "execute": {"cpus": 4, "mem": 8192, "disk": 0}},
    "health": {"grace_period": 300, "interval": 60, "timeout": 20, "max_failures": 3},
    "spread_attribute": "hostname",
    "cm_address_index": 10,
    "submit_address_index": 11,
    "ssh": True,
}


def _merged(settings):
    merged = dict(DEFAULT_SETTINGS)
    for key, value in (settings or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            inner = dict(merged[key])
            inner.update(value)
            value = inner
        merged[key] = value
    return merged


def instance_addresses(instance, settings):
    """Fixed Calico addresses of the central manager and the submitter inside the instance subnet."""
    settings = _merged(settings)
    return (calico.instance_subnet_host(instance["subnet"], int(settings["cm_address_index"])),
            calico.instance_subnet_host(instance["subnet"], int(settings["submit_address_index"])))


def _health_check(port, health):
    # MESOS_TCP runs on the agent inside the task's network namespace, so it works on a Calico network
    # and adds no traffic between Marathon and the sites.
    return {"protocol": "MESOS_TCP", "port": port, "gracePeriodSeconds": int(health["grace_period"]),
            "intervalSeconds": int(health["interval"]), "timeoutSeconds": int(health["timeout"]),
            "maxConsecutiveFailures": int(health["max_failures"])}


def _volume(host_path, container_path):
    return {"hostPath": host_path, "containerPath": container_path, "mode": "RO"}


def bsaas_apps(instance, settings):
    """The cm, submit and execute app definitions for one instance; see DOCUMENTATION."""
    settings = _merged(settings)
    name = instance["name"]
    network = calico.instance_network_name(name)
    cm_address, submit_address = instance_addresses(instance, settings)
    base_dir = "%s/%s" % (settings["host_dir"].rstrip("/"), name)
    health = settings["health"]
    apps = []
    for group in DAEMON_GROUPS:
        resources = dict(settings["resources"][group])
        resources.update(instance.get("%s_resources" % group) or {})
        parameters = [{"key": "hostname", "value": "%s.%s.bsaas" % (group, name)},
                      {"key": "label", "value": "bsaas-instance=%s" % name},
                      {"key": "label", "value": "bsaas-daemons=%s" % group}]
        env = {"CONDOR_HOST": cm_address, "USE_POOL_PASSWORD": "yes"}
        volumes = [_volume("%s/config/%s" % (base_dir, group), "/root/config"),
                   # Root-only directories on the agent; the images copy them into place with the right owner.
                   _volume("%s/secrets/passwords.d" % base_dir, "/etc/condor/passwords-orig.d"),
                   _volume("%s/secrets/tokens.d" % base_dir, "/etc/condor/tokens-orig.d")]
        health_checks = [_health_check(SHARED_PORT, health)]
        constraints = []
        instances = 1
        if group == "cm":
            parameters.append({"key": "ip", "value": cm_address})
            if instance.get("cm_host"):
                constraints.append(["hostname", "CLUSTER", instance["cm_host"]])
        elif group == "submit":
            parameters.append({"key": "ip", "value": submit_address})
            constraints.append(["hostname", "CLUSTER", instance["submit_host"]])
            if settings["ssh"]:
                volumes.append(_volume("%s/ssh" % base_dir, "/etc/bsaas/ssh"))
                health_checks.append(_health_check(22, health))
        else:
            instances = int(instance.get("executors", 0))
            env["NUM_CPUS"] = str(resources["cpus"])
            env["MEMORY"] = str(int(resources["mem"]))
            constraints.append([settings["spread_attribute"], "GROUP_BY"])
            if instance.get("executors_per_host"):
                constraints.append(["hostname", "MAX_PER", str(int(instance["executors_per_host"]))])
        if instance.get("site_attribute_like"):
            constraints.append(["site", "LIKE", instance["site_attribute_like"]])
        app = {
            "id": "%s/%s/%s" % (settings["app_group"].rstrip("/"), name, group),
            "instances": instances,
            "cpus": resources["cpus"], "mem": resources["mem"], "disk": resources.get("disk", 0),
            "container": {
                "type": "DOCKER",
                "docker": {"image": settings["images"][group], "forcePullImage": bool(settings["force_pull"]),
                           "parameters": parameters},
                "volumes": volumes,
            },
            "networks": [{"mode": "container", "name": network}],
            "env": env,
            "healthChecks": health_checks,
            "constraints": constraints,
            "labels": {"bsaas-instance": name, "bsaas-daemons": group},
            # The central manager and the submitter hold state and a fixed address: never run two at once.
            "upgradeStrategy": ({"minimumHealthCapacity": 0, "maximumOverCapacity": 0} if group != "execute"
                                else {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}),
        }
        apps.append(app)
    return apps


def bsaas_condor_config(instance, group, settings=None):
    """HTCondor config text placed in /root/config of one daemon group's containers."""
    settings = _merged(settings)
    name = instance["name"]
    domain = instance.get("trust_domain") or "%s.bsaas" % name
    knobs = {"TRUST_DOMAIN": domain, "UID_DOMAIN": domain, "USE_SHARED_PORT": True,
             "SHARED_PORT_PORT": SHARED_PORT, "BSAAS_INSTANCE": name}
    if instance.get("ccb"):
        knobs["CCB_ADDRESS"] = "$(COLLECTOR_HOST)"
        knobs["PRIVATE_NETWORK_NAME"] = instance.get("private_network_name") or "bsaas-%s" % name
    if group == "execute":
        knobs["STARTD_ATTRS"] = "$(STARTD_ATTRS) BSAAS_INSTANCE"
    knobs.update(instance.get("%s_knobs" % group) or {})
    try:
        return render_fragment(knobs, ["SECURITY: recommended"], name="bsaas-%s-%s" % (name, group))
    except CondorConfigError as err:
        raise AnsibleFilterError("marathon_bsaas_condor_config: instance %s: %s" % (name, err))


def _guard(function):
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except KeyError as err:
            raise AnsibleFilterError("%s: the instance lacks %s; see bsaas_instances in the bsaas role's "
                                     "argument_specs" % (function.__name__, err))
        except calico.CalicoError as err:
            raise AnsibleFilterError("%s: %s" % (function.__name__, err))
    wrapper.__name__ = function.__name__
    return wrapper


def marathon_input_problems(values):
    """The marathon role's fact-free input checks (the same code site.yml's preflight runs on the controller)."""
    return inputs.role_problems('marathon', dict(values or {}))


def marathon_bsaas_input_problems(values):
    """The bsaas role's fact-free input checks (the same code site.yml's preflight runs on the controller)."""
    return inputs.role_problems('bsaas', dict(values or {}))


class FilterModule(object):
    def filters(self):
        return {
            "marathon_input_problems": marathon_input_problems,
            "marathon_bsaas_input_problems": marathon_bsaas_input_problems,
            "marathon_bsaas_apps": _guard(bsaas_apps),
            "marathon_bsaas_condor_config": _guard(bsaas_condor_config),
            "marathon_bsaas_addresses": _guard(instance_addresses),
        }
