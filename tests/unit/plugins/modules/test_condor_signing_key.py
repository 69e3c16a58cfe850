"""condor_signing_key: generated once, kept, distributed byte for byte, rotated on request, never shown."""
import base64
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import condor

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(condor.__file__), "..", "..", "..", "..", ".."))
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the key is chowned to root")


def run_module(tmp_path, check=False, **args):
    args.setdefault("path", str(tmp_path / "passwords.d" / "POOL"))
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = True
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.Popen([sys.executable, "-m", "ansible_collections.htcfarm.bsaas.plugins.modules.condor_signing_key",
                             str(args_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=COLLECTIONS), cwd=str(tmp_path), universal_newlines=True)
    out, err = proc.communicate()
    try:
        return json.loads(out)
    except ValueError:
        raise AssertionError("module printed no JSON: %s %s" % (out, err))


def test_generate_once_then_keep(tmp_path):
    key = tmp_path / "passwords.d" / "POOL"
    check = run_module(tmp_path, check=True)
    assert check["changed"] and not key.exists() and "content" not in check
    first = run_module(tmp_path, return_content=True)
    assert first["changed"] and first["generated"]
    assert oct(key.stat().st_mode & 0o777) == "0o600" and oct((tmp_path / "passwords.d").stat().st_mode & 0o777) == "0o700"
    assert base64.b64decode(first["content"]) == key.read_bytes()
    assert b"\x00" not in key.read_bytes() and len(key.read_bytes()) == 64
    second = run_module(tmp_path, return_content=True)
    assert second["changed"] is False and second["content"] == first["content"]
    # The diff says whether the key changes, never what it is.
    assert first["content"] not in json.dumps(first["diff"])


def test_distribute_same_bytes_and_fix_permissions(tmp_path):
    content = base64.b64encode(condor.new_signing_key()).decode()
    placed = run_module(tmp_path, content=content)
    assert placed["changed"] and not placed["generated"]
    key = tmp_path / "passwords.d" / "POOL"
    assert key.read_bytes() == base64.b64decode(content)
    assert run_module(tmp_path, content=content)["changed"] is False
    key.chmod(0o644)
    fixed = run_module(tmp_path, content=content)
    assert fixed["changed"] and oct(key.stat().st_mode & 0o777) == "0o600"


def test_rotate_replaces_and_backs_up(tmp_path):
    first = run_module(tmp_path, return_content=True)
    rotated = run_module(tmp_path, rotate=True, return_content=True)
    assert rotated["changed"] and rotated["generated"] and rotated["content"] != first["content"]
    with open(rotated["backup_file"], "rb") as handle:
        assert handle.read() == base64.b64decode(first["content"])


@pytest.mark.parametrize("args, fragment", [
    ({"content": "not base64!"}, "not base64"),
    ({"content": "", "rotate": True}, None),
    ({"content": base64.b64encode(b"k" * 32).decode(), "rotate": True}, "cannot be combined"),
])
def test_bad_input(tmp_path, args, fragment):
    result = run_module(tmp_path, **args)
    if fragment is None:
        assert result["changed"] and result["generated"]  # empty content means "generate"
    else:
        assert result["failed"] and fragment in result["msg"]
        assert not (tmp_path / "passwords.d" / "POOL").exists()


def test_absent(tmp_path):
    run_module(tmp_path)
    assert run_module(tmp_path, state="absent")["changed"] is True
    assert run_module(tmp_path, state="absent")["changed"] is False
