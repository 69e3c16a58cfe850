# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared HTCondor logic: config fragments, validation with HTCondor's own parser, pool checks.

Runs on the controller (filter plugin) and on targets down to EL7's Python 3.6, so it only uses
the standard library; the HTCondor bindings are used in a child process (see parse_with_bindings)
because HTCondor's config reader ends the process on a syntax error.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
from collections import OrderedDict
import importlib.util as importlib_util
import difflib
import json
import os
import re
import shutil
import sys
import tempfile

MANAGED_HEADER = "# Managed by Ansible (htcfarm.bsaas.condor_config), fragment {name}: local edits are overwritten."

# Knob names: letters, digits, underscore; a dot separates a subsystem or local-name prefix.
KNOB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# "ROLE: Execute", "SECURITY: recommended", "FEATURE: PartitionableSlot(1, 100%)", "role:get_htcondor_execute"
USE_LINE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*:\s*\S.*$")

# Knobs whose change the daemons only pick up on a restart (condor_reconfig is not enough):
# the master's daemon set, sockets and ports, interfaces, and the startd's slot layout.
RESTART_KNOBS = (
    "DAEMON_LIST",
    "USE_SHARED_PORT",
    "SHARED_PORT_PORT",
    "SHARED_PORT_ARGS",
    "COLLECTOR_PORT",
    "COLLECTOR_ARGS",
    "NETWORK_INTERFACE",
    "PRIVATE_NETWORK_INTERFACE",
    "BIND_ALL_INTERFACES",
    "ENABLE_IPV4",
    "ENABLE_IPV6",
    "PREFER_IPV4",
    "DAEMON_SOCKET_DIR",
    "LOCK",
    "LOG",
    "SPOOL",
    "EXECUTE",
    "NUM_CPUS",
    "MEMORY",
    "SLOT_TYPE_1",
    "SLOT_TYPE_1_PARTITIONABLE",
    "NUM_SLOTS_TYPE_1",
    "NUM_SLOTS",
    "STARTD_ENFORCE_DISK_LIMITS",
    "BASE_CGROUP",
    "CONDOR_IDS",
)
# Name patterns of restart knobs that carry a number or a subsystem in their name.
RESTART_KNOB_PATTERNS = (
    re.compile(r"^SLOT_TYPE_\d+(_PARTITIONABLE)?$"),
    re.compile(r"^NUM_SLOTS_TYPE_\d+$"),
    re.compile(r"^[A-Z_]+\.(NETWORK_INTERFACE|SHARED_PORT_PORT|USE_SHARED_PORT)$"),
)

# Real knobs that have no entry in HTCondor's default table (param() returns nothing for them
# until a config defines them), so the default table alone would call them unknown.
NO_DEFAULT_KNOBS = frozenset((
    "CONDOR_HOST", "COLLECTOR_HOST", "CCB_ADDRESS", "TCP_FORWARDING_HOST", "MAX_FILE_DESCRIPTORS",
    "SEC_TOKEN_DIRECTORY", "SEC_TOKEN_SYSTEM_DIRECTORY", "SEC_TOKEN_POOL_SIGNING_KEY_FILE",
    "SEC_PASSWORD_FILE", "HAD_LIST", "HAD_CONTROLLEE", "HAD_PORT", "HAD_ARGS", "HAD_LOG",
    "REPLICATION_LIST", "REPLICATION_PORT", "REPLICATION_ARGS", "REPLICATION_LOG", "STATE_FILE",
    "MASTER_NEGOTIATOR_CONTROLLER", "MASTER_HAD_BACKOFF_CONSTANT", "NEGOTIATOR_CONTROLLER",
    "STARTD_CRON_JOBLIST", "SCHEDD_CRON_JOBLIST", "NO_JOB_NETWORKING", "USER_JOB_WRAPPER",
    "STARTER_DEFAULT_JOB_HOOK_KEYWORD", "STARTER_JOB_HOOK_KEYWORD", "CONDOR_ADMIN", "MAIL",
    "NUM_SLOTS", "STARTD_ATTRS", "STARTD_EXPRS", "SCHEDD_ATTRS", "SUBMIT_ATTRS", "SUBMIT_EXPRS",
    "START", "SUSPEND", "PREEMPT", "KILL", "RANK", "WANT_SUSPEND", "WANT_VACATE", "CONTINUE",
    "DOCKER_NETWORKS", "DOCKER", "SINGULARITY", "ENABLE_SSH_TO_JOB", "JOB_ROUTER_ROUTE_NAMES",
    "FLOCK_TO", "FLOCK_FROM", "FLOCK_COLLECTOR_HOSTS", "FLOCK_NEGOTIATOR_HOSTS", "UID_DOMAIN",
    "TRUST_DOMAIN", "FILESYSTEM_DOMAIN", "CONDOR_VIEW_HOST", "MACHINE_RESOURCE_NAMES",
    "AUTH_SSL_SERVER_CERTFILE", "AUTH_SSL_SERVER_KEYFILE", "AUTH_SSL_CLIENT_CAFILE",
    "AUTH_SSL_CLIENT_CADIR", "AUTH_SSL_SERVER_CAFILE", "AUTH_SSL_SERVER_CADIR",
    "CERTIFICATE_MAPFILE", "COLLECTOR_NAME", "ETC", "RELEASE_DIR", "LOCAL_DIR",
    # condor_submit's knobs, read from the submit host's configuration.
    "APPEND_REQUIREMENTS", "APPEND_RANK", "APPEND_REQ_VANILLA", "APPEND_RANK_VANILLA",
    # Job identity on execute nodes.
    "TRUST_UID_DOMAIN", "SOFT_UID_DOMAIN", "STARTER_ALLOW_RUNAS_OWNER", "DEDICATED_EXECUTE_ACCOUNT_REGEXP",
    # Scheduling pace, read with built-in defaults the parameter table does not list.
    "NEGOTIATOR_CYCLE_DELAY", "SCHEDD_INTERVAL",
))
# Families of real knobs whose names embed a site-chosen word (a cron job, a hook keyword,
# a slot type, a permission level).
KNOWN_KNOB_PATTERNS = (
    re.compile(r"^(STARTD|SCHEDD|BENCHMARKS)_CRON_[A-Z0-9_]+$"),
    re.compile(r"^[A-Z0-9_]+_HOOK_[A-Z_]+$"),
    re.compile(r"^SLOT_TYPE_\d+(_[A-Z_]+)?$"),
    re.compile(r"^NUM_SLOTS_TYPE_\d+$"),
    re.compile(r"^SLOT\d+(_\d+)?_[A-Z_]+$"),
    re.compile(r"^(ALLOW|DENY)_[A-Z_]+$"),
    re.compile(r"^SEC_[A-Z_]+_(AUTHENTICATION|AUTHENTICATION_METHODS|ENCRYPTION|INTEGRITY|NEGOTIATION|CRYPTO_METHODS)$"),
    re.compile(r"^MACHINE_RESOURCE_[A-Z0-9_]+$"),
    re.compile(r"^[A-Z0-9_]+_(LOG|DEBUG|ARGS|ADDRESS_FILE|ENVIRONMENT|MAX_FILE_DESCRIPTORS|LOCK)$"),
)
SUBSYSTEMS = ("MASTER", "COLLECTOR", "NEGOTIATOR", "SCHEDD", "STARTD", "STARTER", "SHADOW",
              "SHARED_PORT", "HAD", "REPLICATION", "CREDD", "GRIDMANAGER", "TOOL", "SUBMIT",
              "JOB_ROUTER", "DAGMAN", "KBDD", "ANNEX", "TRANSFERD")

# Files HTCondor itself skips in LOCAL_CONFIG_DIR (LOCAL_CONFIG_DIR_EXCLUDE_REGEXP default).
CONFIG_DIR_EXCLUDE_RE = re.compile(r"^\.|(?:\.rpmsave|\.rpmnew|\.dpkg-[a-z]+|\.bak|~|\.swp|#)$")

# Run by the target's interpreter in a child process. It reads the default table, then the
# candidate configuration, then the current one, printing one JSON line per stage; HTCondor
# exits on a syntax error, so the parent learns which stage failed from the lines it got.
PARSE_SCRIPT = r"""
import json, os, sys
request = json.loads(sys.stdin.read())
try:
    import htcondor2 as htcondor
    binding = "htcondor2"
except ImportError:
    import htcondor
    binding = "htcondor"

def emit(stage, **data):
    data["stage"] = stage
    data["binding"] = binding
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()

emit("defaults", known=sorted(k.upper() for k in htcondor.param.keys()))
for stage in ("after", "before"):
    root = request.get(stage)
    if not root:
        continue
    os.environ["CONDOR_CONFIG"] = root
    sys.stderr.write("@@stage %s\n" % stage)
    sys.stderr.flush()
    htcondor.reload_config()
    values = {}
    for name in request["read"]:
        try:
            value = htcondor.param[name]
        except KeyError:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        values[name] = str(value)
    emit(stage, values=values)
"""


class CondorConfigError(Exception):
    """Wrong input or a configuration HTCondor refuses; the message names cause and fix."""


def render_value(knob, value):
    """One knob value as HTCondor config text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(render_value(knob, item) for item in value)
    text = str(value)
    if "\n" in text or "\r" in text:
        raise CondorConfigError(
            "knob %s: the value contains a line break; HTCondor values are one line. "
            "Join the parts with spaces or pass a list (rendered comma-separated)." % knob)
    return text


def check_use_line(line):
    if not isinstance(line, str) or not USE_LINE_RE.match(line.strip()):
        raise CondorConfigError(
            "use: %r is not a metaknob. Write it as 'CATEGORY: Template', for example "
            "'ROLE: Execute' or 'SECURITY: recommended' (without the word 'use')." % (line,))
    return line.strip()


def check_knob_name(knob):
    if not isinstance(knob, str) or not KNOB_NAME_RE.match(knob):
        raise CondorConfigError(
            "knobs: %r is not a valid HTCondor knob name. Names are letters, digits and '_', "
            "optionally prefixed by a subsystem and a dot (COLLECTOR.MAX_FILE_DESCRIPTORS)." % (knob,))
    if knob.lower() == "use":
        raise CondorConfigError("knobs: 'use' is a metaknob; put 'CATEGORY: Template' in the use list instead.")
    return knob


def render_fragment(knobs=None, use=None, name=None):
    """Config text for one fragment: header, 'use' lines first, then the knobs in the given order."""
    lines = []
    if name:
        lines.append(MANAGED_HEADER.format(name=name))
    for line in use or []:
        lines.append("use %s" % check_use_line(line))
    for knob, value in (knobs or {}).items():
        check_knob_name(knob)
        rendered = render_value(knob, value)
        lines.append(("%s = %s" % (knob, rendered)).rstrip())
    return "\n".join(lines) + "\n"


def fragment_knob_names(text):
    """Knob names and use lines in fragment text; used only when no HTCondor parser is present."""
    names, uses = set(), set()
    continued = False
    for raw in (text or "").splitlines():
        line = raw.strip()
        if continued:
            continued = line.endswith("\\")
            continue
        continued = line.endswith("\\")
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("use "):
            uses.add(re.sub(r"\s+", " ", line[4:].strip()).upper())
        elif "=" in line:
            names.add(line.split("=", 1)[0].strip().upper())
    return names, uses


def is_restart_knob(name):
    upper = name.upper()
    return upper in RESTART_KNOBS or any(p.match(upper) for p in RESTART_KNOB_PATTERNS)


def is_known_knob(name, default_table, custom_knobs=()):
    """True when HTCondor knows the knob: default table, known no-default knobs, families, or site macros."""
    upper = name.upper()
    custom = set(k.upper() for k in custom_knobs or ())
    if upper in default_table or upper in NO_DEFAULT_KNOBS or upper in custom:
        return True
    if any(p.match(upper) for p in KNOWN_KNOB_PATTERNS):
        return True
    if "." in upper:
        # SUBSYS.KNOB or LOCALNAME.KNOB: the part after the dot must be a real knob.
        return is_known_knob(upper.split(".", 1)[1], default_table, custom)
    for subsystem in SUBSYSTEMS:
        prefix = subsystem + "_"
        if upper.startswith(prefix) and len(upper) > len(prefix):
            rest = upper[len(prefix):]
            if rest in default_table or rest in NO_DEFAULT_KNOBS:
                return True
    return False


def unknown_knobs(knob_names, default_table, custom_knobs=()):
    """Unknown names, each with the closest real knob names (to catch typos)."""
    table = set(default_table) | NO_DEFAULT_KNOBS
    result = []
    for name in knob_names:
        if not is_known_knob(name, table, custom_knobs):
            result.append((name, difflib.get_close_matches(name.upper(), sorted(table), n=3, cutoff=0.75)))
    return result


def describe_unknown(unknown):
    parts = []
    for name, close in unknown:
        hint = " (did you mean %s?)" % " or ".join(close) if close else ""
        parts.append("%s%s" % (name, hint))
    return ("unknown HTCondor knob(s): %s. HTCondor ignores unknown knobs silently, so this is refused. "
            "Fix the name, or list a site-defined macro in custom_knobs." % ", ".join(parts))


def find_parser(python=None, which=None):
    """Which HTCondor parser this host offers: ('htcondor2'|'htcondor', python) or ('condor_config_val', path) or (None, None)."""
    python = python or sys.executable
    # find_spec, not import: importing the bindings parses the host's live configuration, and a
    # broken one would end this process.
    for binding in ("htcondor2", "htcondor"):
        try:
            if importlib_util.find_spec(binding) is not None:
                return binding, python
        except (ImportError, ValueError):
            continue
    tool = (which or _which)("condor_config_val")
    if tool:
        return "condor_config_val", tool
    return None, None


def _which(command):
    for directory in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) + ["/usr/sbin", "/usr/bin"]:
        path = os.path.join(directory, command)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


class ConfigHarness:
    """A private copy of the config directory with one fragment replaced, and a root file that reads it.

    The copy keeps every other fragment, so a knob that refers to another fragment's macros
    parses the way the daemons will see it. The site's root condor_config is included first when it
    exists; LOCAL_CONFIG_DIR is then set to the packaged defaults directories that exist plus the copy.
    """

    def __init__(self, config_dir, fragment_file, fragment_text, root_config=None, system_dirs=()):
        self.workdir = tempfile.mkdtemp(prefix="condor-config-check-")
        self.config_dir = os.path.join(self.workdir, "config.d")
        os.mkdir(self.config_dir)
        if os.path.isdir(config_dir):
            for entry in sorted(os.listdir(config_dir)):
                source = os.path.join(config_dir, entry)
                if entry == fragment_file or CONFIG_DIR_EXCLUDE_RE.search(entry) or not os.path.isfile(source):
                    continue
                shutil.copyfile(source, os.path.join(self.config_dir, entry))
        if fragment_text is not None:
            with open(os.path.join(self.config_dir, fragment_file), "w") as handle:
                handle.write(fragment_text)
        self.root = os.path.join(self.workdir, "condor_config")
        with open(self.root, "w") as handle:
            if root_config and os.path.isfile(root_config):
                handle.write("include : %s\n" % root_config)
            # Packaged HTCondor reads its own defaults directory before the site's one.
            dirs = [d for d in system_dirs or () if os.path.isdir(d)] + [self.config_dir]
            handle.write("LOCAL_CONFIG_DIR = %s\n" % ", ".join(dirs))
        self.fragment_path = os.path.join(self.config_dir, fragment_file)

    def cleanup(self):
        shutil.rmtree(self.workdir, ignore_errors=True)


def explain_parse_error(stderr, harness_paths, real_path):
    """HTCondor's error lines, with the private copy's paths replaced by the real fragment path."""
    lines = [line for line in (stderr or "").splitlines() if line.strip() and not line.startswith("@@stage")]
    text = " ".join(lines[-4:]) or "HTCondor's parser stopped without a message"
    for path in harness_paths:
        text = text.replace(path, real_path)
    return text


def parse_with_bindings(run_command, python, after_root, before_root, read_knobs):
    """Parse candidate (and current) configuration with the bindings in a child process.

    Returns dict(binding, known, after, before, error): after/before are knob values or None;
    error is HTCondor's message when the candidate does not parse.
    """
    request = {"after": after_root, "before": before_root, "read": sorted(set(read_knobs))}
    env = {"CONDOR_CONFIG": os.devnull}
    rc, stdout, stderr = run_command([python, "-c", PARSE_SCRIPT], data=json.dumps(request),
                                     environ_update=env)
    result = {"binding": None, "known": None, "after": None, "before": None, "error": None}
    for line in (stdout or "").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        result["binding"] = record.get("binding")
        if record["stage"] == "defaults":
            result["known"] = set(record["known"])
        else:
            result[record["stage"]] = record["values"]
    if rc != 0 and result["after"] is None:
        if result["known"] is None:
            result["error"] = "the HTCondor bindings failed to load: %s" % (stderr or "").strip()[-400:]
        else:
            result["error"] = stderr or ""
    return result


def parse_with_tool(run_command, tool, root, read_knobs):
    """Parse with condor_config_val (HTCondor installed, no Python bindings). Returns (values, error)."""
    values = {}
    env = {"CONDOR_CONFIG": root}
    rc, stdout, stderr = run_command([tool, "-config"], environ_update=env)
    if rc != 0:
        return None, (stderr or stdout or "condor_config_val exited with %d" % rc)
    for knob in sorted(set(read_knobs)):
        rc, stdout, stderr = run_command([tool, knob], environ_update=env)
        if rc == 0:
            values[knob] = stdout.strip()
    return values, None


# One "NAME = value" line per knob in `condor_config_val -dump`; comments and continuation lines are skipped.
DUMP_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)\s*=")
# HTCondor 23 prints about 1,100 knobs with no configuration at all; far fewer means no default table came out.
MIN_KNOB_TABLE = 200


def knob_table_from_dump(text):
    """Knob names from `condor_config_val -dump` output (upper case)."""
    names = set()
    for line in (text or "").splitlines():
        match = DUMP_LINE.match(line)
        if match:
            names.add(match.group(1).upper())
    return names


def tool_knob_table(run_command, tool):
    """HTCondor's default knob table as condor_config_val knows it: (names, None) or (None, why not).

    With CONDOR_CONFIG=/dev/null no configuration file is read, so `-dump` prints exactly the defaults
    HTCondor knows -- the table the bindings expose as htcondor.param -- and the knob check no longer
    depends on which bindings the host has.
    """
    rc, stdout, stderr = run_command([tool, "-dump"], environ_update={"CONDOR_CONFIG": os.devnull})
    if rc != 0:
        return None, "condor_config_val -dump exited with %d: %s" % (rc, (stderr or stdout or "").strip()[-300:])
    names = knob_table_from_dump(stdout)
    if len(names) < MIN_KNOB_TABLE:
        return None, "condor_config_val -dump listed only %d knobs, too few to be HTCondor's table" % len(names)
    return names, None


def restart_needed(before_values, after_values, before_text, after_text):
    """Whether the change needs a restart; compares effective values when a parser read them."""
    if before_values is not None and after_values is not None:
        for knob in set(before_values) | set(after_values):
            if is_restart_knob(knob) and before_values.get(knob) != after_values.get(knob):
                return True
        return False
    before_names, before_uses = fragment_knob_names(before_text)
    after_names, after_uses = fragment_knob_names(after_text)
    if before_uses != after_uses:
        return True  # a metaknob can change DAEMON_LIST or the slot layout
    changed = before_names.symmetric_difference(after_names)
    # Without a parser a changed value of an existing knob is not visible per name; be safe.
    changed |= set(n for n in after_names & before_names if is_restart_knob(n))
    return any(is_restart_knob(name) for name in changed)


def fragment_file_name(name):
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name) or CONFIG_DIR_EXCLUDE_RE.search(name):
        raise CondorConfigError(
            "name: %r is not a usable fragment name. Use letters, digits, '-', '_' and '.', "
            "starting with a digit or letter, for example '50-ccb' (HTCondor skips dot-files and backups)." % (name,))
    return name if name.endswith(".conf") else name + ".conf"


def run_condor_config(module):
    """The condor_config module: plan, validate, write, apply."""
    params = module.params
    result = {"changed": False, "validated_with": "none", "applied": "none", "restart_required": False}
    try:
        file_name = fragment_file_name(params["name"])
        path = os.path.join(params["config_dir"], file_name)
        result["path"] = path
        desired = None
        if params["state"] == "present":
            desired = render_fragment(params["knobs"], params["use"], name=params["name"])
    except CondorConfigError as error:
        module.fail_json(msg=str(error), **result)

    current = None
    if os.path.isfile(path):
        with open(path) as handle:
            current = handle.read()
    result["changed"] = current != desired
    result["diff"] = {"before": current or "", "after": desired or "",
                      "before_header": path, "after_header": path}

    before_values = after_values = None
    # An unchanged fragment was checked when it was written; parse again only when asked for values.
    if params["state"] == "present" and params["validate"] and (result["changed"] or params["read_back"]):
        after_values, before_values = _validate(module, params, file_name, path, desired, current, result)

    if result["changed"]:
        result["restart_required"] = restart_needed(before_values if current is not None else {},
                                                    after_values, current or "", desired or "")
    if not result["changed"] or module.check_mode:
        module.exit_json(**result)

    if desired is None:
        os.remove(path)
    else:
        if not os.path.isdir(params["config_dir"]):
            module.fail_json(msg="config_dir %s does not exist. Install HTCondor first, or create the "
                                 "directory (the htcondor role does both)." % params["config_dir"], **result)
        handle, temp = tempfile.mkstemp(dir=params["config_dir"], prefix=".%s." % file_name)
        with os.fdopen(handle, "w") as stream:
            stream.write(desired)
        os.chmod(temp, 0o644)
        module.atomic_move(temp, path)
    result["applied"] = _apply(module, params["apply"], result)
    module.exit_json(**result)


def _validate(module, params, file_name, path, desired, current, result):
    parser, location = find_parser()
    # A refused fragment is never written: the failure must not report a change.
    refused = dict(result, changed=False)
    system_dirs = params.get("system_config_dirs") or []
    after = ConfigHarness(params["config_dir"], file_name, desired, params["root_config"], system_dirs)
    before = ConfigHarness(params["config_dir"], file_name, current, params["root_config"], system_dirs)
    read = list(RESTART_KNOBS) + list(params["knobs"] or {}) + list(params["read_back"] or [])
    try:
        if parser in ("htcondor2", "htcondor"):
            parsed = parse_with_bindings(module.run_command, location, after.root, before.root, read)
            if parsed["error"]:
                module.fail_json(msg="HTCondor's parser (%s) refused %s: %s" % (
                    parser, path, explain_parse_error(parsed["error"], [after.fragment_path, after.root], path)), **refused)
            unknown = unknown_knobs(list(params["knobs"] or {}), parsed["known"], params["custom_knobs"])
            if unknown:
                module.fail_json(msg="%s: %s" % (path, describe_unknown(unknown)), unknown_knobs=[n for n, c in unknown], **refused)
            result["validated_with"] = parsed["binding"]
            result["effective"] = dict((k, v) for k, v in parsed["after"].items()
                                       if k in (params["knobs"] or {}) or k in (params["read_back"] or []))
            return parsed["after"], parsed["before"]
        if parser == "condor_config_val":
            values, error = parse_with_tool(module.run_command, location, after.root, read)
            if error:
                module.fail_json(msg="condor_config_val refused %s: %s" % (
                    path, explain_parse_error(error, [after.fragment_path, after.root], path)), **refused)
            table, why_not = tool_knob_table(module.run_command, location)
            if table is None:
                module.fail_json(msg="%s: the knob names cannot be checked: %s. Fix the HTCondor installation "
                                     "(condor_config_val must print its default table), or pass validate: false "
                                     "to write unchecked." % (path, why_not), **refused)
            unknown = unknown_knobs(list(params["knobs"] or {}), table, params["custom_knobs"])
            if unknown:
                module.fail_json(msg="%s: %s" % (path, describe_unknown(unknown)), unknown_knobs=[n for n, c in unknown], **refused)
            before_values, _error = parse_with_tool(module.run_command, location, before.root, read)
            result["validated_with"] = "condor_config_val"
            result["effective"] = dict((k, v) for k, v in values.items() if k in (params["knobs"] or {}))
            return values, before_values
        module.warn("No HTCondor parser on this host (neither the htcondor2/htcondor Python bindings for %s "
                    "nor condor_config_val): %s is not validated. Install HTCondor or the 'htcondor' "
                    "wheel to validate." % (sys.executable, path))
        return None, None
    finally:
        after.cleanup()
        before.cleanup()


def _service_active(module):
    systemctl = module.get_bin_path("systemctl")
    if systemctl:
        rc, _out, _err = module.run_command([systemctl, "is-active", "--quiet", module.params["service"]])
        return rc == 0
    pidof = module.get_bin_path("pidof")
    return bool(pidof) and module.run_command([pidof, "condor_master"])[0] == 0


def _apply(module, apply, result):
    if apply == "none":
        return "none"
    if apply == "auto":
        if not _service_active(module):
            module.warn("HTCondor (%s) is not running: the new configuration takes effect when it starts."
                        % module.params["service"])
            return "none"
        apply = "restart" if result["restart_required"] else "reconfig"
    if apply == "reconfig":
        tool = module.get_bin_path("condor_reconfig")
        if not tool:
            if module.params["apply"] == "auto":
                module.warn("condor_reconfig not found: HTCondor is not installed yet, nothing to reconfigure.")
                return "none"
            module.fail_json(msg="apply=reconfig but condor_reconfig is not on PATH. Install HTCondor, or use apply=none.", **result)
        rc, out, err = module.run_command([tool])
        if rc != 0:
            module.fail_json(msg="condor_reconfig failed (rc=%d): %s. Is condor_master running? "
                                 "Check 'systemctl status %s'." % (rc, (err or out).strip(), module.params["service"]), **result)
        return "reconfig"
    systemctl = module.get_bin_path("systemctl")
    if systemctl:
        rc, out, err = module.run_command([systemctl, "restart", module.params["service"]])
    else:
        tool = module.get_bin_path("condor_restart")
        if not tool:
            module.fail_json(msg="restart needed but neither systemctl nor condor_restart is available.", **result)
        rc, out, err = module.run_command([tool])
    if rc != 0:
        module.fail_json(msg="restarting HTCondor (%s) failed (rc=%d): %s" % (module.params["service"], rc, (err or out).strip()), **result)
    return "restart"


# ---------------------------------------------------------------- pool signing key

SCRAMBLE_PAD = (0xDE, 0xAD, 0xBE, 0xEF)


def scramble(data):
    """HTCondor's simple_scramble (XOR with DEADBEEF), the format condor_store_cred writes."""
    data = bytearray(data)
    return bytes(bytearray(b ^ SCRAMBLE_PAD[i % 4] for i, b in enumerate(data)))


def new_signing_key(random_bytes=None):
    """A fresh pool signing key file: a random printable secret, scrambled as condor_store_cred does.

    Printable input keeps every scrambled byte non-zero (XOR with bytes >= 0x80), so no reader can
    cut the key short at a NUL.
    """
    secret = base64.b64encode(random_bytes or os.urandom(48))
    return scramble(secret)


# ---------------------------------------------------------------- pool readiness

def pool_shortfall(ads, central_manager=None, schedds=(), min_startds=0, min_slots=0, min_cpus=0, negotiator=False):
    """What the collector does not (yet) show. `ads` are dicts of ClassAd attributes.

    Returns a list of sentences, empty when the pool is complete.
    """
    missing = []
    collectors = [a for a in ads if a.get("MyType") == "Collector"]
    negotiators = [a for a in ads if a.get("MyType") == "Negotiator"]
    schedd_ads = [a for a in ads if a.get("MyType") == "Scheduler"]
    startd_ads = [a for a in ads if a.get("MyType") == "Machine"]

    def host_of(ad):
        return str(ad.get("Machine") or ad.get("Name") or "").lower()

    if central_manager:
        cm = central_manager.lower()
        if not any(host_of(a) == cm or str(a.get("Name", "")).lower().endswith("@" + cm) for a in collectors):
            missing.append("collector on %s (seen: %s)" % (central_manager, ", ".join(sorted(host_of(a) for a in collectors)) or "none"))
        if not any(host_of(a) == cm for a in negotiators):
            missing.append("negotiator on %s" % central_manager)
    seen_schedds = set()
    for ad in schedd_ads:
        seen_schedds.add(host_of(ad))
        seen_schedds.add(str(ad.get("Name", "")).lower())
    for schedd in schedds:
        if schedd.lower() not in seen_schedds:
            missing.append("schedd %s" % schedd)
    startd_hosts = set(host_of(a) for a in startd_ads)
    if len(startd_hosts) < min_startds:
        missing.append("%d startd host(s), %d reporting (%s)" % (min_startds, len(startd_hosts), ", ".join(sorted(startd_hosts)) or "none"))
    if len(startd_ads) < min_slots:
        missing.append("%d slot(s), %d reporting" % (min_slots, len(startd_ads)))
    cpus = sum(int(a.get("TotalSlotCpus", a.get("Cpus", 0)) or 0) for a in startd_ads
               if a.get("SlotType") in ("Partitionable", "Static", None))
    if cpus < min_cpus:
        missing.append("%d CPU(s) in slots, %d reporting" % (min_cpus, cpus))
    if negotiator and not negotiators:
        missing.append("a negotiator (HAD may still be electing one)")
    return missing


# ---------------------------------------------------------------- native pool plan (htcondor role)

POOL_GROUPS = ("htcondor_central_managers", "htcondor_submitters", "htcondor_executors")
ROLE_METAKNOBS = {"central_manager": "ROLE: CentralManager", "submitter": "ROLE: Submit", "executor": "ROLE: Execute"}


def host_roles(host, groups):
    """The HTCondor roles of one host, from the inventory groups, in a fixed order."""
    roles = []
    for group, role in zip(POOL_GROUPS, ("central_manager", "submitter", "executor")):
        if host in (groups.get(group) or []):
            roles.append(role)
    return roles


def _placement(hostvars, host):
    """A host's network placement variables (filled per site by playbooks/site.yml)."""
    hv = hostvars.get(host) or {}
    return {
        "ccb_address": hv.get("htcondor_ccb_address") or "",
        "private_network_name": hv.get("htcondor_private_network_name") or "",
        "inbound_reachable": _as_bool(hv.get("htcondor_site_inbound_reachable", True)),
        "site": hv.get("bsaas_site_name") or "",
    }


def placement_problems(host, roles, place):
    """Errors in one host's network placement (its own variables, as the role sees them)."""
    if place.get("inbound_reachable", True) or place.get("ccb_address"):
        return []
    if not set(roles) & {"submitter", "executor"}:
        return []
    what = "submitter listed as executor" if set(roles) >= {"submitter", "executor"} else roles[-1]
    site = place.get("site")
    return ["%s is a %s at a site reachable only through CCB (htcondor_site_inbound_reachable=false%s) but "
            "htcondor_ccb_address is empty: nothing outside can connect to its daemons. Set "
            "htcondor_ccb_address (usually '$(COLLECTOR_HOST)') for that site, or set "
            "htcondor_site_inbound_reachable=true if inbound connections are allowed."
            % (host, what, ", site " + site if site else "")]


def pool_problems(groups, hostvars):
    """Errors (refuse to deploy) and warnings about the pool as the inventory describes it."""
    errors, warnings = [], []
    central_managers = list(groups.get("htcondor_central_managers") or [])
    if not central_managers:
        errors.append("the pool has no central manager: inventory group htcondor_central_managers is empty or "
                      "missing. Put the primary central manager in it (a second host becomes the fall-back).")
    if len(central_managers) > 2:
        errors.append("htcondor_central_managers lists %d hosts (%s); the role runs one primary and at most one "
                      "fall-back central manager. Keep two." % (len(central_managers), ", ".join(central_managers)))
    for cm in central_managers:
        place = _placement(hostvars, cm)
        if not place["inbound_reachable"]:
            errors.append("central manager %s is at a site that cannot be reached from outside "
                          "(htcondor_site_inbound_reachable=false): the collector is the CCB server and must be "
                          "reachable. Move it to a routable site or set htcondor_site_inbound_reachable=true "
                          "there if port %s is forwarded." % (cm, "9618"))
    private = {}
    for group in ("htcondor_submitters", "htcondor_executors"):
        for host in groups.get(group) or []:
            place = _placement(hostvars, host)
            if place["inbound_reachable"]:
                continue
            for message in placement_problems(host, host_roles(host, groups), place):
                if message not in errors:
                    errors.append(message)
            private.setdefault(host, place["private_network_name"])
    submitters = [h for h in groups.get("htcondor_submitters") or [] if h in private]
    executors = [h for h in groups.get("htcondor_executors") or [] if h in private]
    for schedd in submitters:
        blocked = [e for e in executors if e != schedd and (not private[e] or private[e] != private[schedd])]
        if blocked:
            warnings.append("submitter %s and executor(s) %s are both behind CCB on different private networks: "
                            "CCB needs one reachable side, so their jobs cannot run there. Put the submitter at a "
                            "reachable site, or give them the same htcondor_private_network_name."
                            % (schedd, ", ".join(sorted(blocked))))
    return errors, warnings


def _as_bool(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def collector_host_value(central_managers, shared_port_port=9618):
    hosts = [cm if shared_port_port == 9618 else "%s:%d" % (cm, shared_port_port) for cm in central_managers]
    return ", ".join(hosts)


# The meaning of SECURITY: recommended (23.10+, the 24.0 model), spelled out so that older releases
# get the same policy and no earlier fragment can loosen it: authentication, encryption and
# integrity required; READ without authentication (condor_status), still encrypted; writers and
# daemons only from the pool's own identities, never '*'.
POOL_SECURITY_KNOBS = (
    ("SEC_DEFAULT_AUTHENTICATION", "REQUIRED"),
    ("SEC_DEFAULT_ENCRYPTION", "REQUIRED"),
    ("SEC_DEFAULT_INTEGRITY", "REQUIRED"),
    ("SEC_READ_AUTHENTICATION", "OPTIONAL"),
    ("SEC_READ_ENCRYPTION", "$(SEC_DEFAULT_ENCRYPTION)"),
    ("SEC_READ_INTEGRITY", "$(SEC_DEFAULT_INTEGRITY)"),
    ("SEC_CLIENT_AUTHENTICATION", "OPTIONAL"),
    ("ALLOW_READ", "*"),
    ("ALLOW_WRITE", "*@$(UID_DOMAIN)"),
    ("ALLOW_DAEMON", "condor@$(UID_DOMAIN)"),
    ("ALLOW_NEGOTIATOR", "condor@$(UID_DOMAIN)"),
    ("ALLOW_ADMINISTRATOR", "condor@$(UID_DOMAIN) root@$(UID_DOMAIN)"),
)
POOL_SECURITY_KNOBS = OrderedDict(POOL_SECURITY_KNOBS)
# Values a deployed host must show for these knobs, whatever else its config.d holds.
WEAK_SECURITY_VALUES = {"ALLOW_WRITE": ("*",), "ALLOW_DAEMON": ("*",), "ALLOW_ADMINISTRATOR": ("*",),
                        "ALLOW_NEGOTIATOR": ("*",)}

# Releases that first carry a feature the inventory can ask for (htcondor_required_features).
FEATURE_VERSIONS = OrderedDict((
    ("security_recommended", (23, 10, 0)),   # use SECURITY: recommended
    ("no_job_networking", (24, 7, 0)),       # NO_JOB_NETWORKING, per-job network namespaces
    ("startd_health_exprs", (25, 10, 0)),    # STARTD_HEALTH_EXPRS
))


def parse_version(text):
    """(major, minor, patch) from '25.14.1', '$CondorVersion: 23.9.6 ...' or '25.0'; None when absent."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", str(text or ""))
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def has_feature(version, feature):
    wanted = FEATURE_VERSIONS[feature]
    parsed = parse_version(version)
    # Unknown version: the newest behaviour (what a fresh install from the default series gives).
    return parsed is None or parsed >= wanted


def missing_features(version, features):
    """The requested features this version lacks, as sentences naming the release that has them."""
    problems = []
    for feature in features or ():
        if feature not in FEATURE_VERSIONS:
            problems.append("%s is not a feature the role knows (known: %s)" % (feature, ", ".join(FEATURE_VERSIONS)))
        elif not has_feature(version, feature):
            problems.append("%s needs HTCondor %s or later, this host gets %s"
                            % (feature, ".".join(str(p) for p in FEATURE_VERSIONS[feature]), version))
    return problems


def security_problems(values):
    """Sentences for effective security values (knob -> value, as condor_config_val prints) that weaken a pool."""
    problems = []
    for knob in ("SEC_DEFAULT_AUTHENTICATION", "SEC_DEFAULT_ENCRYPTION", "SEC_DEFAULT_INTEGRITY"):
        if knob in values and str(values[knob]).strip().upper() != "REQUIRED":
            problems.append("%s is %r, not REQUIRED" % (knob, values[knob]))
    for knob, weak in WEAK_SECURITY_VALUES.items():
        entries = [entry.strip() for entry in re.split(r"[,\s]+", str(values.get(knob, ""))) if entry.strip()]
        if any(entry in weak for entry in entries):
            problems.append("%s lets anybody in (%r)" % (knob, values[knob]))
    return problems


def security_metaknobs(version, policy=None):
    """The SECURITY metaknob for this release: recommended from 23.10 on, none before (explicit knobs)."""
    policy = policy or "auto"
    if policy == "explicit" or not has_feature(version, "security_recommended"):
        return []
    return ["SECURITY: recommended"]


def slot_user_names(prefix, count):
    return ["%s%d" % (prefix, index) for index in range(1, int(count) + 1)]


def job_identity_knobs(identity, slot_users):
    """Who a job runs as on an executor.

    submitter: as the submitting user, trusting the submitter's UID_DOMAIN (shared accounts: LDAP,
    sssd); slot_users: one dedicated local account per dynamic slot, never the submitter's.
    """
    if identity == "submitter":
        return {"TRUST_UID_DOMAIN": True, "SOFT_UID_DOMAIN": False}
    if identity != "slot_users":
        raise ValueError("job_identity must be submitter or slot_users, got %r" % (identity,))
    if not slot_users:
        raise ValueError("job_identity slot_users needs at least one slot user account")
    knobs = OrderedDict((("STARTER_ALLOW_RUNAS_OWNER", False),))
    # Dynamic slots of partitionable slot 1 are slot1_1, slot1_2, ...; the starter looks up SLOT1_<n>_USER.
    for index, user in enumerate(slot_users, 1):
        if not re.match(r"^[a-z_][a-z0-9_-]*$", user):
            raise ValueError("slot user %r is not a usable account name (lower-case letters, digits, '-', '_')" % (user,))
        knobs["SLOT1_%d_USER" % index] = user
    # The starter treats these accounts as dedicated to jobs, so it can kill every process they own.
    knobs["DEDICATED_EXECUTE_ACCOUNT_REGEXP"] = "|".join(slot_users)
    return knobs


def host_fragments(host, groups, settings):
    """The config.d fragments of one host: ordered {name: {"use": [...], "knobs": {...}}}.

    `settings` holds the role's variables without the htcondor_ prefix (see roles/htcondor/defaults).
    """
    roles = host_roles(host, groups)
    central_managers = list(groups.get("htcondor_central_managers") or [])
    names = settings.get("central_manager_names") or {}
    cm_names = [names.get(cm, cm) for cm in central_managers]
    shared_port_port = int(settings.get("shared_port_port", 9618))
    fragments = {}

    pool = {
        "CONDOR_HOST": ", ".join(cm_names),
        "TRUST_DOMAIN": settings["pool_domain"],
        "UID_DOMAIN": settings["pool_domain"],
        "SEC_DEFAULT_AUTHENTICATION_METHODS": ", ".join(settings.get("auth_methods") or ["FS", "IDTOKENS"]),
        "SEC_CLIENT_AUTHENTICATION_METHODS": "$(SEC_DEFAULT_AUTHENTICATION_METHODS)",
        "SEC_TOKEN_DIRECTORY": settings.get("token_dir", "/etc/condor/tokens.d"),
    }
    # Written on every version, after the metaknob: the distribution's own security fragment
    # (Debian's 00-htcondor-9.0.config, 00-security) loads first and must not weaken the pool.
    pool.update(POOL_SECURITY_KNOBS)
    if shared_port_port != 9618 or len(cm_names) > 1:
        pool["COLLECTOR_HOST"] = collector_host_value(cm_names, shared_port_port)
    fragments["10-bsaas-pool"] = {"use": security_metaknobs(settings.get("version"), settings.get("security_policy")),
                                  "knobs": pool}

    network = {
        "USE_SHARED_PORT": _as_bool(settings.get("use_shared_port", True)),
        "SHARED_PORT_PORT": shared_port_port,
    }
    if settings.get("ccb_address") and "central_manager" not in roles:
        network["CCB_ADDRESS"] = settings["ccb_address"]
        network["CCB_HEARTBEAT_INTERVAL"] = int(settings.get("ccb_heartbeat_interval", 300))
    if settings.get("private_network_name"):
        network["PRIVATE_NETWORK_NAME"] = settings["private_network_name"]
    if settings.get("tcp_forwarding_host"):
        network["TCP_FORWARDING_HOST"] = settings["tcp_forwarding_host"]
    fragments["20-bsaas-network"] = {"use": [], "knobs": network}

    role_knobs = {}
    if "central_manager" in roles:
        role_knobs["COLLECTOR_NAME"] = settings.get("pool_name") or settings["pool_domain"]
        # Each CCB client keeps one TCP connection per daemon, shadow and starter.
        role_knobs["COLLECTOR.MAX_FILE_DESCRIPTORS"] = int(settings.get("collector_max_file_descriptors", 20000))
    if "executor" in roles:
        role_knobs.update({
            "NUM_SLOTS": 1,
            "NUM_SLOTS_TYPE_1": 1,
            "SLOT_TYPE_1": settings.get("slot_type", "100%"),
            "SLOT_TYPE_1_PARTITIONABLE": True,
        })
        role_knobs.update(job_identity_knobs(settings.get("job_identity", "slot_users"),
                                             settings.get("slot_users") or slot_user_names("bsaas-slot", 1)))
    fragments["30-bsaas-role"] = {"use": [ROLE_METAKNOBS[r] for r in roles], "knobs": role_knobs}

    if "central_manager" in roles and len(cm_names) > 1:
        had_port = int(settings.get("had_port", 51450))
        own_collector = collector_host_value([names.get(host, host)], shared_port_port)
        replication_port = int(settings.get("replication_port", 41450))
        fragments["40-bsaas-ha"] = {"use": [], "knobs": {
            "HAD_USE_SHARED_PORT": False,
            "REPLICATION_USE_SHARED_PORT": False,
            "HAD_PORT": had_port,
            "HAD_ARGS": "-p $(HAD_PORT)",
            "REPLICATION_PORT": replication_port,
            "REPLICATION_ARGS": "-p $(REPLICATION_PORT)",
            "HAD_LIST": ", ".join("%s:$(HAD_PORT)" % n for n in cm_names),
            "REPLICATION_LIST": ", ".join("%s:$(REPLICATION_PORT)" % n for n in cm_names),
            # Whichever central manager holds the negotiator keeps it until it fails: handing it back to a
            # returning primary would match against a collector that is still empty (its clients' next
            # updates come up to UPDATE_INTERVAL later), leaving the pool unmatched for minutes.
            "HAD_USE_PRIMARY": False,
            "HAD_CONTROLLEE": "NEGOTIATOR",
            "MASTER_NEGOTIATOR_CONTROLLER": "HAD",
            "HAD_USE_REPLICATION": True,
            "STATE_FILE": "$(SPOOL)/$(HOSTNAME).state",
            "MASTER_HAD_BACKOFF_CONSTANT": 360,
            "DAEMON_LIST": "$(DAEMON_LIST) HAD REPLICATION",
            # The negotiator matches from its own collector, the one HAD keeps beside it, not from the
            # first collector of COLLECTOR_HOST that answers (which may be a restarted, empty one).
            "NEGOTIATOR.COLLECTOR_HOST": own_collector,
        }}

    extra = settings.get("extra_knobs") or {}
    if extra:
        fragments["90-bsaas-site"] = {"use": [], "knobs": dict(extra)}
    return fragments


def run_signing_key(module):
    """The condor_signing_key module: keep one pool signing key file, generated once or given."""
    params = module.params
    path = params["path"]
    result = {"changed": False, "path": path, "generated": False}
    given = None
    if params["content"]:
        try:
            given = base64.b64decode(params["content"].encode("ascii"), validate=True)
        except (ValueError, TypeError):
            module.fail_json(msg="content is not base64. Pass the key file's bytes base64-encoded, for example "
                                 "from 'base64 -w0 /etc/condor/passwords.d/POOL' on the host that holds it.", **result)
        if not given:
            module.fail_json(msg="content decodes to an empty key; pass the base64 of a non-empty key file.", **result)
        if params["rotate"]:
            module.fail_json(msg="rotate=true replaces a key with a new random one and cannot be combined with "
                                 "content; to change a given key, pass the new content.", **result)

    current = None
    if os.path.isfile(path):
        with open(path, "rb") as handle:
            current = handle.read()

    if params["state"] == "absent":
        result["changed"] = current is not None
        if result["changed"] and not module.check_mode:
            os.remove(path)
        module.exit_json(**result)

    wanted = current
    if given is not None:
        wanted = given
    elif current is None or not current or params["rotate"]:
        wanted = new_signing_key()
        result["generated"] = True
    result["changed"] = wanted != current
    # The key itself never goes into the diff; only whether it changes.
    result["diff"] = {"before": "%s: %s\n" % (path, "absent" if current is None else "key present"),
                      "after": "%s: %s\n" % (path, "key replaced" if result["changed"] and current else "key present")}
    if result["changed"] and not module.check_mode:
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        handle, temp = tempfile.mkstemp(dir=directory, prefix=".signing-key.")
        with os.fdopen(handle, "wb") as stream:
            stream.write(wanted)
        os.chmod(temp, 0o600)
        if params["backup"] and current is not None:
            result["backup_file"] = module.backup_local(path)
        module.atomic_move(temp, path)
    if os.path.exists(path):
        status = os.stat(path)
        # A key readable by anyone but root lets them mint tokens for the whole pool.
        if status.st_mode & 0o777 != 0o600 or status.st_uid != 0 or status.st_gid != 0:
            result["changed"] = True
            if not module.check_mode:
                os.chmod(path, 0o600)
                os.chown(path, 0, 0)
    if params["return_content"] and wanted is not None and not (module.check_mode and result["generated"]):
        result["content"] = base64.b64encode(wanted).decode("ascii")
    module.exit_json(**result)


# ---------------------------------------------------------------- condor_pool_wait

POOL_AD_ATTRS = ("MyType", "Name", "Machine", "SlotType", "TotalSlotCpus", "Cpus", "State", "Activity")

# Asks the collector through the bindings in a child process (importing them reads the host's live
# configuration, which is only safe outside the module's own process).
QUERY_SCRIPT = r"""
import json, sys
request = json.loads(sys.stdin.read())
try:
    import htcondor2 as htcondor
except ImportError:
    import htcondor
collector = htcondor.Collector(request["pool"]) if request["pool"] else htcondor.Collector()
ads = []
ad_types = getattr(htcondor, "AdType", None) or htcondor.AdTypes
for ad_type in ("Collector", "Negotiator", "Schedd", "Startd"):
    for ad in collector.query(getattr(ad_types, ad_type), projection=request["attrs"]):
        ads.append(dict((k, ad.eval(k) if hasattr(ad, "eval") else ad[k]) for k in request["attrs"] if k in ad))
sys.stdout.write(json.dumps(ads, default=str))
"""


def query_pool(run_command, method, location, pool):
    """All daemon ads the collector shows, as dicts. Returns (ads, error)."""
    if method in ("htcondor2", "htcondor"):
        rc, out, err = run_command([location, "-c", QUERY_SCRIPT],
                                   data=json.dumps({"pool": pool, "attrs": list(POOL_AD_ATTRS)}))
    else:
        args = [location, "-any", "-json", "-attributes", ",".join(POOL_AD_ATTRS)]
        if pool:
            args[1:1] = ["-pool", pool]
        rc, out, err = run_command(args)
    if rc != 0:
        # The last line carries HTCondor's message; the traceback above it only says where.
        lines = [line for line in (err or out or "").splitlines() if line.strip()]
        return None, (lines[-1].strip() if lines else "exit code %d" % rc)[-500:]
    try:
        return json.loads(out or "[]"), None
    except ValueError as error:
        return None, "unreadable answer from the collector: %s" % error


def wait_for_pool(query, expectations, timeout, interval, clock, sleep):
    """Poll `query()` until pool_shortfall is empty or `timeout` passes. Returns (missing, ads, error, seconds)."""
    start = clock()
    while True:
        ads, error = query()
        missing = pool_shortfall(ads or [], **expectations) if ads is not None else ["an answer from the collector"]
        elapsed = clock() - start
        if not missing or elapsed >= timeout:
            return missing, ads or [], error, elapsed
        sleep(min(interval, max(timeout - elapsed, 0)))


def run_pool_wait(module):
    """The condor_pool_wait module."""
    import time
    params = module.params
    method, location = find_parser(which=module.get_bin_path)
    if method == "condor_config_val":
        method, location = "condor_status", module.get_bin_path("condor_status")
    if not location:
        module.fail_json(msg="Neither the htcondor2/htcondor Python bindings (for %s) nor condor_status are available "
                             "on this host. Run the task on a host with HTCondor installed (for example delegate_to "
                             "the central manager)." % sys.executable)
    expectations = dict(central_manager=params["central_manager"], schedds=params["schedds"],
                        min_startds=params["min_startds"], min_slots=params["min_slots"], min_cpus=params["min_cpus"],
                        negotiator=params["negotiator"])
    missing, ads, error, elapsed = wait_for_pool(
        lambda: query_pool(module.run_command, method, location, params["pool"]),
        expectations, params["timeout"], params["interval"], time.time, time.sleep)
    result = dict(
        changed=False, elapsed=int(elapsed), queried_with=method, missing=missing,
        collectors=sorted(set(str(a.get("Machine", a.get("Name"))) for a in ads if a.get("MyType") == "Collector")),
        schedds=sorted(set(str(a.get("Name")) for a in ads if a.get("MyType") == "Scheduler")),
        startds=sorted(set(str(a.get("Machine")) for a in ads if a.get("MyType") == "Machine")),
        slots=len([a for a in ads if a.get("MyType") == "Machine"]),
    )
    if missing:
        reason = " Last error: %s." % error if error else ""
        module.fail_json(msg="after %ds the collector%s still does not show: %s.%s Check those hosts' condor "
                             "services, their daemon tokens and the network path to the collector (CCB, shared port)."
                             % (int(elapsed), " " + params["pool"] if params["pool"] else "", "; ".join(missing), reason),
                         **result)
    module.exit_json(**result)
