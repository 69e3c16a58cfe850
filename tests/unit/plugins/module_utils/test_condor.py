"""module_utils/condor.py: rendering, knob checks, restart decisions, signing keys, pool checks.

Parsing is proven with HTCondor's own parser from the htcondor wheel when this interpreter has it
(Python 3.11 venv); under EL7's Python 3.6 those tests are skipped by name.
"""
import os
import subprocess
import sys

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor


def run_command(args, data=None, environ_update=None):
    """Stand-in for AnsibleModule.run_command, running the real command."""
    env = dict(os.environ)
    env.update(environ_update or {})
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, universal_newlines=True)
    out, err = proc.communicate(data)
    return proc.returncode, out, err


def has_bindings():
    binding, _python = condor.find_parser(which=lambda name: None)
    return binding is not None


needs_parser = pytest.mark.skipif(not has_bindings(), reason="needs the htcondor2/htcondor bindings (htcondor wheel)")


def parse_dir(tmp_path, files, read):
    config_dir = tmp_path / "config.d"
    config_dir.mkdir(exist_ok=True)
    for name, text in files.items():
        (config_dir / name).write_text(text)
    harness = condor.ConfigHarness(str(config_dir), "zz-none.conf", None, None)
    try:
        return condor.parse_with_bindings(run_command, sys.executable, harness.root, None, read)
    finally:
        harness.cleanup()


def test_render_puts_use_first_and_keeps_knob_order():
    text = condor.render_fragment({"Z_LAST": 1, "A_FIRST": "x", "USE_SHARED_PORT": True},
                                  ["ROLE: Execute"], name="20-role")
    lines = text.splitlines()
    assert lines[0].startswith("# Managed by Ansible")
    assert lines[1:] == ["use ROLE: Execute", "Z_LAST = 1", "A_FIRST = x", "USE_SHARED_PORT = true"]


def test_render_lists_and_empty_values():
    text = condor.render_fragment({"DAEMON_LIST": ["MASTER", "STARTD"], "EMPTY": None})
    assert text == "DAEMON_LIST = MASTER, STARTD\nEMPTY =\n"


@pytest.mark.parametrize("knobs, use, fragment", [
    ({"BAD NAME": 1}, [], "not a valid HTCondor knob name"),
    ({"use": "ROLE: Execute"}, [], "'use' is a metaknob"),
    ({"START": "a\nb"}, [], "line break"),
    ({}, ["use ROLE: Execute"], "not a metaknob"),
    ({}, ["Execute"], "not a metaknob"),
])
def test_render_refuses_bad_input(knobs, use, fragment):
    with pytest.raises(condor.CondorConfigError) as error:
        condor.render_fragment(knobs, use)
    assert fragment in str(error.value)


@pytest.mark.parametrize("name", ["", ".hidden", "50-ccb~", "a/b", "x.rpmsave"])
def test_fragment_name_refused(name):
    with pytest.raises(condor.CondorConfigError):
        condor.fragment_file_name(name)


def test_fragment_name_gets_conf_suffix():
    assert condor.fragment_file_name("50-ccb") == "50-ccb.conf"
    assert condor.fragment_file_name("50-ccb.conf") == "50-ccb.conf"


@needs_parser
def test_default_table_from_real_parser_classifies_knobs(tmp_path):
    parsed = parse_dir(tmp_path, {"00.conf": "X = 1\n"}, [])
    table = parsed["known"]
    assert "NUM_CPUS" in table and "SHARED_PORT_PORT" in table
    for knob in ("NUM_CPUS", "CONDOR_HOST", "CCB_ADDRESS", "COLLECTOR.MAX_FILE_DESCRIPTORS",
                 "STARTD_CRON_PERFSONAR_EXECUTABLE", "LARK_HOOK_PREPARE_JOB", "SLOT_TYPE_1_PARTITIONABLE",
                 "ALLOW_ADVERTISE_STARTD", "SEC_DAEMON_AUTHENTICATION_METHODS", "COLLECTOR_DEBUG"):
        assert condor.is_known_knob(knob, table), knob
    unknown = condor.unknown_knobs(["NUM_CPUS", "DAEMON_LSIT", "POOL_DOMAIN"], table)
    assert [name for name, _close in unknown] == ["DAEMON_LSIT", "POOL_DOMAIN"]
    assert "DAEMON_LIST" in unknown[0][1]
    assert condor.unknown_knobs(["POOL_DOMAIN"], table, custom_knobs=["pool_domain"]) == []
    assert "did you mean DAEMON_LIST" in condor.describe_unknown(unknown)


@needs_parser
def test_metaknobs_and_macros_expand(tmp_path):
    parsed = parse_dir(tmp_path, {
        "10-pool.conf": condor.render_fragment({"CONDOR_HOST": "cm.to.example"}, ["SECURITY: recommended"]),
        "20-role.conf": condor.render_fragment({"CCB_ADDRESS": "$(COLLECTOR_HOST)"}, ["ROLE: Execute"]),
    }, ["DAEMON_LIST", "CCB_ADDRESS", "SEC_DEFAULT_AUTHENTICATION"])
    assert parsed["error"] is None
    assert parsed["after"]["DAEMON_LIST"] == "MASTER STARTD"
    assert parsed["after"]["CCB_ADDRESS"] == "cm.to.example"
    assert parsed["after"]["SEC_DEFAULT_AUTHENTICATION"].upper() == "REQUIRED"


@needs_parser
@pytest.mark.parametrize("text", ["use ROLE: Nonexistent\n", "if\nX = 1\n", "this is not config\n"])
def test_parse_error_is_reported_not_fatal(tmp_path, text):
    parsed = parse_dir(tmp_path, {"50-bad.conf": text}, ["DAEMON_LIST"])
    assert parsed["after"] is None
    assert "Error" in parsed["error"] or "error" in parsed["error"]
    message = condor.explain_parse_error(parsed["error"], [str(tmp_path)], "/etc/condor/config.d/50-bad.conf")
    assert "@@stage" not in message


def test_restart_decision_from_effective_values():
    before = {"DAEMON_LIST": "MASTER STARTD", "START": "true"}
    assert not condor.restart_needed(before, dict(before, START="false"), "", "")
    assert condor.restart_needed(before, dict(before, DAEMON_LIST="MASTER SCHEDD"), "", "")
    assert condor.restart_needed({"SHARED_PORT_PORT": "9618"}, {"SHARED_PORT_PORT": "9619"}, "", "")
    assert condor.restart_needed({}, {"NETWORK_INTERFACE": "10.0.0.1"}, "", "")


def test_restart_decision_without_parser_is_textual():
    assert condor.restart_needed(None, None, "use ROLE: Execute\n", "use ROLE: Submit\n")
    assert condor.restart_needed(None, None, "X = 1\n", "X = 1\nUSE_SHARED_PORT = false\n")
    assert not condor.restart_needed(None, None, "START = true\n", "START = false\n")
    assert condor.is_restart_knob("SLOT_TYPE_2_PARTITIONABLE") and not condor.is_restart_knob("START")


def test_signing_key_is_scrambled_printable_secret():
    key = condor.new_signing_key(b"\x00" * 48)
    assert condor.scramble(key) == b"A" * 64  # base64 of zero bytes, unscrambled
    assert b"\x00" not in condor.new_signing_key()
    assert condor.new_signing_key() != condor.new_signing_key()


def test_pool_shortfall_lists_what_is_missing():
    ads = [
        {"MyType": "Collector", "Name": "My Pool@cm.to.example", "Machine": "cm.to.example"},
        {"MyType": "Negotiator", "Name": "cm.to.example", "Machine": "cm.to.example"},
        {"MyType": "Scheduler", "Name": "sub.to.example", "Machine": "sub.to.example"},
        {"MyType": "Machine", "Name": "slot1@wn1.ba.example", "Machine": "wn1.ba.example",
         "SlotType": "Partitionable", "TotalSlotCpus": 8},
    ]
    assert condor.pool_shortfall(ads, "cm.to.example", ["sub.to.example"], 1, 1, 8) == []
    missing = condor.pool_shortfall(ads, "cm.bo.example", ["sub.to.example", "sub.bo.example"], 2, 1, 16)
    assert any("collector on cm.bo.example" in m for m in missing)
    assert "schedd sub.bo.example" in missing
    assert any(m.startswith("2 startd host(s), 1 reporting") for m in missing)
    assert any(m.startswith("16 CPU(s)") for m in missing)
