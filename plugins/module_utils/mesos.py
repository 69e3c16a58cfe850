# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mesos 1.11 flag validation, quorum and ZooKeeper URL helpers (Python 3.6 compatible).

The flag tables below are generated from Apache Mesos 1.11.0 docs/configuration/{master,agent,
master-and-agent}.md; tests/unit/plugins/module_utils/test_mesos.py re-parses those documents and fails
when the tables drift. "bool" flags take --[no-]name on the command line and true/false in MESOS_* variables.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import json

MASTER_FLAGS = {  # docs/configuration/master.md, 58 flags
    "acls": "value", "agent_ping_timeout": "value", "agent_removal_rate_limit": "value",
    "agent_reregister_timeout": "value", "allocation_interval": "value", "allocator": "value",
    "authenticate": "bool", "authenticate_agents": "bool", "authenticate_frameworks": "bool",
    "authenticate_http_frameworks": "bool", "authenticate_slaves": "bool",
    "authentication_v0_timeout": "value", "authenticators": "value", "authorizers": "value",
    "cluster": "value", "credentials": "value", "fair_sharing_excluded_resource_names": "value",
    "filter_gpu_resources": "bool", "framework_sorter": "value", "http_framework_authenticators": "value",
    "log_auto_initialize": "bool", "master_contender": "value", "master_detector": "value",
    "max_agent_ping_timeouts": "value", "max_completed_frameworks": "value",
    "max_completed_tasks_per_framework": "value", "max_executors_per_agent": "value",
    "max_executors_per_slave": "value", "max_operator_event_stream_subscribers": "value",
    "max_slave_ping_timeouts": "value", "max_unreachable_tasks_per_framework": "value",
    "min_allocatable_resources": "value", "offer_constraints_re2_max_mem": "value",
    "offer_constraints_re2_max_program_size": "value", "offer_timeout": "value",
    "publish_per_framework_metrics": "bool", "quorum": "value", "rate_limits": "value",
    "recovery_agent_removal_limit": "value", "recovery_slave_removal_limit": "value", "registry": "value",
    "registry_fetch_timeout": "value", "registry_gc_interval": "value", "registry_max_agent_age": "value",
    "registry_max_agent_count": "value", "registry_store_timeout": "value", "require_agent_domain": "bool",
    "role_sorter": "value", "roles": "value", "root_submissions": "bool", "slave_ping_timeout": "value",
    "slave_removal_rate_limit": "value", "slave_reregister_timeout": "value", "webui_dir": "value",
    "weights": "value", "whitelist": "value", "work_dir": "value", "zk": "value",
}

AGENT_FLAGS = {  # docs/configuration/agent.md, 125 flags
    "acls": "value", "agent_features": "value", "agent_subsystems": "value", "allowed_devices": "value",
    "appc_simple_discovery_uri_prefix": "value", "appc_store_dir": "value", "attributes": "value",
    "authenticate_http_executors": "bool", "authenticatee": "value", "authentication_backoff_factor": "value",
    "authentication_timeout_max": "value", "authentication_timeout_min": "value", "authorizer": "value",
    "bounding_capabilities": "value", "cgroups_cpu_enable_pids_and_tids_count": "bool",
    "cgroups_destroy_timeout": "value", "cgroups_enable_cfs": "bool", "cgroups_hierarchy": "value",
    "cgroups_limit_swap": "bool", "cgroups_net_cls_primary_handle": "value",
    "cgroups_net_cls_secondary_handles": "value", "cgroups_root": "value",
    "check_agent_port_range_only": "bool", "container_disk_watch_interval": "value",
    "container_logger": "value", "container_ports_isolated_range": "value",
    "container_ports_watch_interval": "value", "containerizers": "value", "credential": "value",
    "csi_plugin_config_dir": "value", "default_container_dns": "value", "default_container_info": "value",
    "default_container_shm_size": "value", "default_role": "value",
    "disallow_sharing_agent_ipc_namespace": "bool", "disallow_sharing_agent_pid_namespace": "bool",
    "disk_profile_adaptor": "value", "disk_watch_interval": "value", "docker": "value",
    "docker_config": "value", "docker_ignore_runtime": "value", "docker_kill_orphans": "bool",
    "docker_mesos_image": "value", "docker_registry": "value", "docker_remove_delay": "value",
    "docker_socket": "value", "docker_stop_timeout": "value", "docker_store_dir": "value",
    "docker_volume_checkpoint_dir": "value", "docker_volume_chown": "bool", "domain_socket_location": "value",
    "effective_capabilities": "value", "egress_flow_classifier_parent": "value",
    "egress_rate_limit_per_container": "value", "egress_unique_flow_per_container": "bool",
    "enforce_container_disk_quota": "bool", "enforce_container_ports": "bool",
    "ephemeral_ports_per_container": "value", "eth0_name": "value", "executor_environment_variables": "value",
    "executor_registration_timeout": "value", "executor_reregistration_retry_interval": "value",
    "executor_reregistration_timeout": "value", "executor_shutdown_grace_period": "value",
    "fetcher_cache_dir": "value", "fetcher_cache_size": "value", "fetcher_stall_timeout": "value",
    "frameworks_home": "value", "gc_delay": "value", "gc_disk_headroom": "value",
    "gc_non_executor_container_sandboxes": "bool", "hadoop_home": "value",
    "host_path_volume_force_creation": "value", "http_command_executor": "bool", "http_credentials": "value",
    "http_executor_domain_sockets": "value", "http_heartbeat_interval": "value", "image_gc_config": "value",
    "image_providers": "value", "image_provisioner_backend": "value", "ip6": "value",
    "ip6_discovery_command": "value", "isolation": "value", "jwt_secret_key": "value", "launcher": "value",
    "launcher_dir": "value", "lo_name": "value", "master": "value", "master_detector": "value",
    "max_completed_executors_per_framework": "value", "network_cni_config_dir": "value",
    "network_cni_metrics": "bool", "network_cni_plugins_dir": "value", "network_cni_root_dir_persist": "bool",
    "network_enable_snmp_statistics": "bool", "network_enable_socket_statistics_details": "bool",
    "network_enable_socket_statistics_summary": "bool", "nvidia_gpu_devices": "value",
    "oversubscribed_resources_interval": "value", "perf_duration": "value", "perf_events": "value",
    "perf_interval": "value", "qos_controller": "value", "qos_correction_interval_min": "value",
    "reconfiguration_policy": "value", "recover": "value", "recovery_timeout": "value",
    "registration_backoff_factor": "value", "resource_estimator": "value",
    "resource_provider_config_dir": "value", "resources": "value", "revocable_cpu_low_priority": "bool",
    "runtime_dir": "value", "sandbox_directory": "value", "seccomp_config_dir": "value",
    "seccomp_profile_name": "value", "secret_resolver": "value", "slave_subsystems": "value",
    "strict": "bool", "switch_user": "bool", "systemd_enable_support": "bool",
    "systemd_runtime_directory": "value", "volume_gid_range": "value", "work_dir": "value",
    "xfs_project_range": "value",
}

COMMON_FLAGS = {  # docs/configuration/master-and-agent.md, 24 flags
    "advertise_ip": "value", "advertise_port": "value", "authenticate_http_readonly": "bool",
    "authenticate_http_readwrite": "bool", "domain": "value", "external_log_file": "value",
    "firewall_rules": "value", "help": "bool", "hooks": "value", "hostname": "value",
    "hostname_lookup": "bool", "http_authenticators": "value", "initialize_driver_logging": "bool",
    "ip": "value", "ip_discovery_command": "value", "log_dir": "value", "logbufsecs": "value",
    "logging_level": "value", "modules": "value", "modules_dir": "value", "port": "value", "quiet": "bool",
    "version": "bool", "zk_session_timeout": "value",
}

# Mesos reads every flag from MESOS_<FLAG> too; the containers get their flags that way.
ENV_PREFIX = "MESOS_"


def known_flags(daemon):
    """All flags ``mesos-master`` or ``mesos-agent`` accepts."""
    if daemon == "master":
        table = dict(MASTER_FLAGS)
    elif daemon == "agent":
        table = dict(AGENT_FLAGS)
    else:
        raise ValueError("daemon must be 'master' or 'agent', got %r" % (daemon,))
    table.update(COMMON_FLAGS)
    return table


def flag_errors(daemon, flags):
    """One sentence per flag Mesos would reject at start-up, naming the closest real flag."""
    table = known_flags(daemon)
    errors = []
    for name in sorted(flags or {}):
        value = flags[name]
        bare = name[2:] if name.startswith("--") else name
        if bare not in table:
            close = difflib.get_close_matches(bare, list(table), n=1)
            hint = " Did you mean '%s'?" % close[0] if close else ""
            errors.append("'%s' is not a mesos-%s 1.11 flag.%s" % (name, daemon, hint))
        elif table[bare] == "bool" and not (isinstance(value, bool) or str(value).lower() in ("true", "false")):
            errors.append("'%s' is a boolean flag of mesos-%s: give true or false, not %r." % (name, daemon, value))
        elif value is None or value == "":
            errors.append("'%s' has no value: give one or leave the flag out." % name)
    return errors


def flag_value(value):
    """How Mesos expects a value in an environment variable: lists comma-joined, maps and JSON as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def flags_to_env(flags):
    """MESOS_<FLAG>=value pairs for an environment file, in a stable order."""
    return [(ENV_PREFIX + name.lstrip("-").upper(), flag_value(flags[name])) for name in sorted(flags)]


def quorum_size(master_count):
    """Replicated-log quorum: a strict majority of the masters (Mesos requires quorum > masters/2)."""
    master_count = int(master_count)
    if master_count < 1:
        raise ValueError("at least one Mesos master is needed, got %d" % master_count)
    return master_count // 2 + 1


def zk_url(hosts, port=2181, path="/mesos"):
    """zk://h1:2181,h2:2181/mesos from a host list; entries that already carry a port keep it."""
    if not hosts:
        raise ValueError("no ZooKeeper hosts: fill the zookeeper inventory group or mesos_zookeeper_hosts")
    members = []
    for host in hosts:
        host = str(host)
        members.append(host if ":" in host.rsplit("]", 1)[-1] else "%s:%d" % (host, int(port)))
    return "zk://%s/%s" % (",".join(members), path.strip("/"))


def agent_resources(cpus, memory_mb, disk_mb, fraction=1.0, reserved_memory_mb=0):
    """--resources value offering a fraction of the host to Mesos and keeping some memory for the host."""
    if not 0 < float(fraction) <= 1:
        raise ValueError("fraction must be in (0, 1], got %r" % (fraction,))
    offered_cpus = max(0.1, round(float(cpus) * float(fraction), 1))
    offered_mem = max(0, int((int(memory_mb) - int(reserved_memory_mb)) * float(fraction)))
    offered_disk = max(0, int(int(disk_mb) * float(fraction)))
    return "cpus:%s;mem:%d;disk:%d" % (offered_cpus, offered_mem, offered_disk)


def attributes_string(attributes):
    """--attributes value (rack:r1;site:torino) from a mapping, sorted so restarts are not triggered by order."""
    return ";".join("%s:%s" % (k, attributes[k]) for k in sorted(attributes or {}))
