# -*- coding: utf-8 -*-
"""marathon_app as Ansible runs it (argument parsing, check mode, fail_json), against the loopback test fake."""

from __future__ import absolute_import, division, print_function

import json

import pytest

from ansible_collections.htcfarm.bsaas.plugins.modules import marathon_app
from ansible_collections.htcfarm.bsaas.tests.unit.plugins.modules.runner import run_module
from ansible_collections.htcfarm.bsaas.tests.unit.fakes.marathon_fake import start_fake_marathon


def run(args):
    return run_module(marathon_app.main, args)


@pytest.fixture
def fake():
    server = start_fake_marathon()
    yield server
    server.shutdown()
    server.server_close()


def app_args(fake, **extra):
    args = {"url": [fake.url], "app_id": "bsaas/cms/cm", "poll_interval": 0.01,
            "definition": {"cmd": "condor_master -f", "cpus": 0.5, "mem": 512, "instances": 1}}
    args.update(extra)
    return args


def test_create_is_idempotent(fake):
    first = run(app_args(fake))
    assert first["rc"] == 0 and first["changed"] and first["app"]["id"] == "/bsaas/cms/cm"
    second = run(app_args(fake))
    assert second["rc"] == 0 and not second["changed"]


def test_check_mode_changes_nothing(fake):
    result = run(app_args(fake, _ansible_check_mode=True))
    assert result["changed"] and fake.state.apps == {}


def test_validation_error_fails_with_path(fake):
    fake.state.reject_next = {"message": "Object is not valid",
                              "details": [{"path": "/mem", "errors": ["must be >= 0"]}]}
    result = run(app_args(fake))
    assert result["rc"] == 1 and result["failed"] and result["status"] == 422
    assert "/mem: must be >= 0" in result["msg"]


def test_password_is_not_logged_and_auth_works(fake):
    fake.state.credentials = ("bsaas", "pool-secret")
    result = run(app_args(fake, username="bsaas", password="pool-secret"))
    assert result["changed"]
    assert "pool-secret" not in json.dumps(result)


def test_negative_instances_rejected_before_any_request(fake):
    result = run(app_args(fake, instances=-1))
    assert result["failed"] and "instances must be 0 or more" in result["msg"]
    assert fake.state.requests == []


def test_absent_through_a_wrong_url_fails(fake):
    """A URL whose every path answers 404 (here a prefix Marathon does not serve) fails instead of 'ok'."""
    result = run({"url": [fake.url + "/wrong/prefix"], "app_id": "bsaas/cms/cm", "state": "absent",
                  "poll_interval": 0.01})
    assert result["rc"] == 1 and result["failed"], result
    assert "does not answer as Marathon's REST API" in result["msg"]
