"""The lark_policy module: check mode, diff, idempotence, and refusal before writing."""
import json
import os

import pytest

from ansible_collections.htcfarm.bsaas.plugins.modules import lark_policy
from ansible_collections.htcfarm.bsaas.tests.unit.plugins.modules import runner

POLICY = {"networks": {"nat": {"type": "nat", "subnet": "10.213.0.0/16"}},
          "accounting": {"enabled": True, "campus_networks": ["131.154.0.0/16"]},
          "bandwidth": {"enabled": True, "job_rate": "20mbit"}}


def run_module(args, check_mode=False, diff=True):
    return runner.run_module(lark_policy.main, args, check_mode=check_mode, diff=diff)


def test_policy_is_written_once_with_a_diff(tmp_path):
    path = str(tmp_path / "lark" / "policy.json")
    checked = run_module({"path": path, "policy": POLICY, "check_host_overlaps": False}, check_mode=True)
    assert checked["changed"] is True and not os.path.exists(path)
    assert '"job_rate": "20000000bit"' in checked["diff"]["after"]
    first = run_module({"path": path, "policy": POLICY, "check_host_overlaps": False})
    assert first["changed"] is True
    with open(path) as handle:
        assert json.load(handle)["bandwidth"]["job_rate"] == "20000000bit"
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    second = run_module({"path": path, "policy": POLICY, "check_host_overlaps": False})
    assert second["changed"] is False


@pytest.mark.parametrize("policy,message", [
    (dict(POLICY, shaping="on"), "unknown policy shaping"),
    (dict(POLICY, bandwidth={"enabled": True, "job_rate": "fast"}), "'fast' is not a rate"),
    (dict(POLICY, networks={"nat": {"type": "nat", "subnet": "127.0.0.0/16"}}), "overlaps the host's"),
])
def test_bad_input_fails_and_leaves_the_host_untouched(tmp_path, policy, message):
    path = str(tmp_path / "policy.json")
    result = run_module({"path": path, "policy": policy})
    assert result.get("failed") is True
    assert message in result["msg"]
    assert not os.path.exists(path)
