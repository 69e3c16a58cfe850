"""condor_config module, run as Ansible runs it: a child process reading its arguments from a file.

Under the 3.11 venv the module finds the htcondor wheel's parser (validated_with htcondor2); under
EL7's Python 3.6 it has no parser and must say so.
"""
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(condor.__file__), "..", "..", "..", "..", ".."))
HAS_PARSER = condor.find_parser(which=lambda name: None)[0] is not None
needs_parser = pytest.mark.skipif(not HAS_PARSER, reason="needs the htcondor2/htcondor bindings (htcondor wheel)")


def run_module(tmp_path, check=False, **args):
    args.setdefault("name", "20-role")
    args.setdefault("config_dir", str(tmp_path / "config.d"))
    args.setdefault("root_config", str(tmp_path / "absent_condor_config"))
    args.setdefault("apply", "none")
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = True
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    proc = subprocess.Popen([sys.executable, "-m", "ansible_collections.htcfarm.bsaas.plugins.modules.condor_config",
                             str(args_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=str(tmp_path), universal_newlines=True)
    out, err = proc.communicate()
    try:
        return json.loads(out)
    except ValueError:
        raise AssertionError("module printed no JSON: %s %s" % (out, err))


EXECUTE = dict(use=["ROLE: Execute", "SECURITY: recommended"],
               knobs={"CONDOR_HOST": "cm.to.example", "CCB_ADDRESS": "$(COLLECTOR_HOST)", "USE_SHARED_PORT": True})


@pytest.fixture
def config_dir(tmp_path):
    path = tmp_path / "config.d"
    path.mkdir()
    return path


def test_check_mode_reports_change_and_writes_nothing(tmp_path, config_dir):
    result = run_module(tmp_path, check=True, **EXECUTE)
    assert result["changed"] is True, result
    assert not (config_dir / "20-role.conf").exists()
    assert "use ROLE: Execute" in result["diff"]["after"]
    assert result["diff"]["before"] == ""


def test_write_then_idempotent(tmp_path, config_dir):
    first = run_module(tmp_path, **EXECUTE)
    assert first["changed"] is True and not first.get("failed"), first
    text = (config_dir / "20-role.conf").read_text()
    assert text.splitlines()[1:3] == ["use ROLE: Execute", "use SECURITY: recommended"]
    assert oct(os.stat(str(config_dir / "20-role.conf")).st_mode & 0o777) == "0o644"
    second = run_module(tmp_path, **EXECUTE)
    assert second["changed"] is False, second
    assert first["restart_required"] is True  # DAEMON_LIST appears (ROLE: Execute)
    if HAS_PARSER:
        assert first["validated_with"] in ("htcondor2", "htcondor")
        assert first["effective"]["CCB_ADDRESS"] == "cm.to.example"
    else:
        assert first["validated_with"] == "none"
        assert any("No HTCondor parser" in w for w in first.get("warnings", []))


@needs_parser
def test_reconfig_knob_vs_restart_knob(tmp_path, config_dir):
    run_module(tmp_path, **EXECUTE)
    knobs = dict(EXECUTE["knobs"], START="TARGET.RequestCpus <= 4")
    reconfig = run_module(tmp_path, use=EXECUTE["use"], knobs=knobs)
    assert reconfig["changed"] and reconfig["restart_required"] is False, reconfig
    restart = run_module(tmp_path, use=["ROLE: Submit", "SECURITY: recommended"], knobs=knobs)
    assert restart["changed"] and restart["restart_required"] is True, restart
    assert "-use ROLE: Execute" not in restart["diff"]["after"]


@needs_parser
def test_unknown_knob_refused_with_suggestion(tmp_path, config_dir):
    result = run_module(tmp_path, knobs={"DAEMON_LSIT": "MASTER, STARTD"})
    assert result["failed"] is True
    assert "DAEMON_LSIT (did you mean DAEMON_LIST?)" in result["msg"]
    assert result["unknown_knobs"] == ["DAEMON_LSIT"]
    assert result["changed"] is False, "a refused fragment is not written, so nothing changed"
    assert not (config_dir / "20-role.conf").exists()
    allowed = run_module(tmp_path, knobs={"POOL_DOMAIN": "to.example"}, custom_knobs=["POOL_DOMAIN"])
    assert allowed["changed"] is True, allowed


@needs_parser
def test_condor_submit_knobs_are_known(tmp_path, config_dir):
    result = run_module(tmp_path, name="55-submit", use=["ROLE: Submit"],
                        knobs={"APPEND_REQUIREMENTS": "(TARGET.HasLark =?= true)", "APPEND_RANK": "TARGET.Mips"})
    assert result.get("failed") is not True, result
    assert result["changed"] is True


@needs_parser
def test_fragment_that_fails_to_parse_is_refused(tmp_path, config_dir):
    result = run_module(tmp_path, use=["ROLE: Nonexistent"])
    assert result["failed"] is True
    assert "refused" in result["msg"] and "Nonexistent" in result["msg"]
    assert result["changed"] is False
    assert str(config_dir / "20-role.conf") in result["msg"]
    assert not (config_dir / "20-role.conf").exists()


@needs_parser
def test_other_fragments_are_parsed_in_context(tmp_path, config_dir):
    (config_dir / "10-pool.conf").write_text("CONDOR_HOST = cm.ba.example\n")
    result = run_module(tmp_path, knobs={"CCB_ADDRESS": "$(COLLECTOR_HOST)"})
    assert result["effective"]["CCB_ADDRESS"] == "cm.ba.example"


@pytest.mark.parametrize("args, fragment", [
    ({"name": ".hidden"}, "not a usable fragment name"),
    ({"knobs": {"BAD NAME": 1}}, "not a valid HTCondor knob name"),
    ({"use": ["use ROLE: Execute"]}, "not a metaknob"),
    ({"apply": "sometimes"}, "apply"),
])
def test_bad_input_fails_before_writing(tmp_path, config_dir, args, fragment):
    result = run_module(tmp_path, **args)
    assert result["failed"] is True and fragment in result["msg"], result
    assert os.listdir(str(config_dir)) == []


def test_absent_removes_and_is_idempotent(tmp_path, config_dir):
    run_module(tmp_path, **EXECUTE)
    check = run_module(tmp_path, check=True, state="absent")
    assert check["changed"] and (config_dir / "20-role.conf").exists()
    removed = run_module(tmp_path, state="absent")
    assert removed["changed"] and not (config_dir / "20-role.conf").exists()
    assert run_module(tmp_path, state="absent")["changed"] is False


def test_missing_config_dir_names_the_fix(tmp_path):
    result = run_module(tmp_path, validate=False, knobs={"START": "true"})
    assert result["failed"] and "does not exist" in result["msg"]


@needs_parser
def test_packaged_defaults_directory_is_parsed_first(tmp_path, config_dir):
    system = tmp_path / "usr-share-condor-config.d"
    system.mkdir()
    (system / "00-packaged.conf").write_text("CONDOR_HOST = packaged.example\nUSE_SHARED_PORT = false\n")
    result = run_module(tmp_path, knobs={"CCB_ADDRESS": "$(COLLECTOR_HOST)", "USE_SHARED_PORT": True},
                        system_config_dirs=[str(system), str(tmp_path / "missing")])
    # The packaged value is seen (macro), and the site fragment, read later, wins over it.
    assert result["effective"] == {"CCB_ADDRESS": "packaged.example", "USE_SHARED_PORT": "true"}, result
