# -*- coding: utf-8 -*-
"""Marathon client and comparison logic against the loopback test fake and Marathon's own example payloads."""

from __future__ import absolute_import, division, print_function

import json
import os

import pytest

from ansible_collections.htcfarm.bsaas.plugins.module_utils import marathon
from ansible_collections.htcfarm.bsaas.tests.unit.fakes.marathon_fake import start_fake_marathon

EXAMPLES = "/work/shared/reference/marathon/examples"
FAST = dict(interval=0.01)


def example(name):
    path = os.path.join(EXAMPLES, name)
    if not os.path.exists(path):
        pytest.skip("Marathon reference examples not found at %s" % EXAMPLES)
    with open(path) as handle:
        return json.load(handle)


@pytest.fixture
def fake():
    server = start_fake_marathon()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(fake):
    return marathon.MarathonClient(fake.url, timeout=5)


APP = {
    "id": "/bsaas/atlas/execute",
    "instances": 2, "cpus": 1, "mem": 2048,
    "container": {"type": "DOCKER", "docker": {"image": "htcondor/execute:latest"}},
    "env": {"CONDOR_HOST": "cm.atlas.bsaas"},
    "healthChecks": [{"protocol": "MESOS_TCP", "port": 9618}],
}


def test_app_id_is_normalised():
    assert marathon.normalise_app_id("bsaas/atlas/cm/") == "/bsaas/atlas/cm"
    with pytest.raises(marathon.MarathonError, match="app_id"):
        marathon.normalise_app_id("  ")


def test_server_answer_equals_its_request_when_server_fields_are_ignored():
    """app.json from Marathon's docs is a full server answer; the same app as a request must compare equal."""
    answer = example("app.json")
    request = dict((k, v) for k, v in answer.items() if k not in ("version", "versionInfo"))
    answer = dict(answer, version="2015-09-25T15:13:48.343Z", tasksRunning=2, tasksHealthy=2, deployments=[])
    assert not marathon.app_differs(request, answer)
    assert marathon.app_differs(dict(request, instances=3), answer)


def test_removed_env_variable_is_a_difference_but_filled_defaults_are_not():
    current = dict(APP, env={"CONDOR_HOST": "cm", "OLD": "1"}, backoffSeconds=1, killSelection="YOUNGEST_FIRST")
    assert marathon.app_differs(dict(APP, env={"CONDOR_HOST": "cm"}), current)
    assert not marathon.app_differs(dict(APP, env={"CONDOR_HOST": "cm", "OLD": "1"}), current)


def test_numbers_compare_by_value_and_booleans_by_identity():
    assert not marathon.app_differs({"id": "/a", "cpus": 1}, {"id": "/a", "cpus": 1.0})
    assert marathon.app_differs({"id": "/a", "requirePorts": True}, {"id": "/a", "requirePorts": 1})


def test_validation_error_names_every_field_path():
    text = marathon.describe_validation_error({"message": "Object is not valid", "details": [
        {"path": "/container/docker/image", "errors": ["must not be empty"]},
        {"path": "/cpus", "errors": ["must be >= 0"]}]})
    assert "/container/docker/image: must not be empty" in text and "/cpus: must be >= 0" in text


def test_create_then_nothing_to_do(fake, client):
    first = marathon.ensure_app(client, APP["id"], definition=APP, **FAST)
    assert first["changed"] and first["deployment_id"]
    assert fake.state.apps["/bsaas/atlas/execute"]["killSelection"] == "YOUNGEST_FIRST"  # server default filled
    second = marathon.ensure_app(client, APP["id"], definition=APP, **FAST)
    assert not second["changed"] and second["deployment_id"] is None
    writes = [r for r in fake.state.requests if r[0] != "GET"]
    assert len(writes) == 1 and writes[0][2] == {"force": "false", "partialUpdate": "false"}


def test_check_mode_reports_change_without_writing(fake, client):
    result = marathon.ensure_app(client, APP["id"], definition=APP, check_mode=True, **FAST)
    assert result["changed"] and result["diff"]["before"] == {}
    assert result["diff"]["after"]["instances"] == 2
    assert fake.state.apps == {}


def test_update_diff_shows_before_and_after(fake, client):
    marathon.ensure_app(client, APP["id"], definition=APP, **FAST)
    changed = dict(APP, mem=4096)
    result = marathon.ensure_app(client, APP["id"], definition=changed, **FAST)
    assert result["changed"]
    assert result["diff"]["before"]["mem"] == 2048 and result["diff"]["after"]["mem"] == 4096
    assert fake.state.apps[APP["id"]]["mem"] == 4096


def test_scale_only_sends_instances(fake, client):
    marathon.ensure_app(client, APP["id"], definition=APP, **FAST)
    result = marathon.ensure_app(client, APP["id"], instances=5, **FAST)
    assert result["changed"] and fake.state.apps[APP["id"]]["instances"] == 5
    method, _path, query, body = fake.state.requests[-3]
    assert (method, body, query["partialUpdate"]) == ("PUT", {"instances": 5}, "true")
    assert not marathon.ensure_app(client, APP["id"], instances=5, **FAST)["changed"]


def test_scale_of_missing_app_says_how_to_fix(client):
    with pytest.raises(marathon.MarathonError, match="Pass definition"):
        marathon.ensure_app(client, "/nope", instances=3, **FAST)


def test_restart_and_delete(fake, client):
    marathon.ensure_app(client, APP["id"], definition=APP, **FAST)
    assert marathon.ensure_app(client, APP["id"], state="restarted", **FAST)["changed"]
    assert fake.state.requests[-2][1] == "/v2/apps/bsaas/atlas/execute/restart"
    gone = marathon.ensure_app(client, APP["id"], state="absent", **FAST)
    assert gone["changed"] and APP["id"] not in fake.state.apps
    assert not marathon.ensure_app(client, APP["id"], state="absent", **FAST)["changed"]


def test_slow_deployment_is_waited_for(fake, client):
    fake.state.deployment_polls = 4
    marathon.ensure_app(client, APP["id"], definition=APP, **FAST)
    polls = [r for r in fake.state.requests if r[1] == "/v2/deployments"]
    assert len(polls) == 5  # four answers still listing it, the fifth without it


def test_failing_deployment_reports_last_task_failure(fake, client):
    fake.state.fail_tasks = "Failed to launch container: image htcondor/execute:nope not found"
    with pytest.raises(marathon.MarathonError) as err:
        marathon.ensure_app(client, APP["id"], definition=APP, wait_timeout=0.2, **FAST)
    assert "image htcondor/execute:nope not found" in err.value.message
    assert "TASK_FAILED" in err.value.message and "wait_timeout" in err.value.message


def test_lock_is_retried_until_free(fake, client):
    fake.state.lock_next = 2
    result = marathon.ensure_app(client, APP["id"], definition=APP, lock_timeout=5, **FAST)
    assert result["changed"]
    assert [r[0] for r in fake.state.requests].count("PUT") == 3


def test_lock_held_fails_with_deployment_id_and_fix(fake, client):
    fake.state.lock_next = 1000
    with pytest.raises(marathon.MarathonLocked) as err:
        marathon.ensure_app(client, APP["id"], definition=APP, lock_timeout=0.05, **FAST)
    assert "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43" in err.value.message and "force=true" in err.value.message


def test_force_cancels_a_stuck_deployment(fake, client):
    fake.state.fail_tasks = "health check failed"
    with pytest.raises(marathon.MarathonError):
        marathon.ensure_app(client, APP["id"], definition=APP, wait_timeout=0, **FAST)
    fake.state.fail_tasks = None
    with pytest.raises(marathon.MarathonLocked):
        marathon.ensure_app(client, APP["id"], definition=dict(APP, mem=1), lock_timeout=0, **FAST)
    result = marathon.ensure_app(client, APP["id"], definition=dict(APP, mem=1), force=True, lock_timeout=0, **FAST)
    assert result["changed"] and fake.state.requests[-3][2]["force"] == "true"


def test_422_names_the_field(fake, client):
    fake.state.reject_next = {"message": "Object is not valid", "details": [
        {"path": "/healthChecks(0)/protocol", "errors": ["error.expected.validenumvalue"]}]}
    with pytest.raises(marathon.MarathonError) as err:
        marathon.ensure_app(client, APP["id"], definition=APP, **FAST)
    assert err.value.status == 422
    assert "/healthChecks(0)/protocol: error.expected.validenumvalue" in err.value.message


def test_basic_auth_is_sent_and_refusal_is_explained(fake):
    fake.state.credentials = ("bsaas", "s3cret")
    good = marathon.MarathonClient(fake.url, username="bsaas", password="s3cret")
    assert good.get_app("/absent") is None
    bad = marathon.MarathonClient(fake.url, username="bsaas", password="wrong")
    with pytest.raises(marathon.MarathonError, match="check username/password"):
        bad.get_app("/absent")


def test_unreachable_marathon_then_next_url(fake):
    # Port 9 on loopback (discard) is closed in test environments: connection refused, then the fake answers.
    client = marathon.MarathonClient(["http://127.0.0.1:9", fake.url], timeout=2)
    assert client.get_app("/x") is None
    with pytest.raises(marathon.MarathonError, match="Cannot reach Marathon"):
        marathon.MarathonClient("http://127.0.0.1:9", timeout=2).get_app("/x")


def test_fake_deployments_have_the_reference_shape(fake, client):
    """The test fake must answer like Marathon: same keys as examples/deployments.json and deployments_result."""
    fake.state.deployment_polls = 1
    answer = client.put_app("/a", {"id": "/a", "cmd": "sleep 1"})
    assert set(answer) == set(example("deployments_result.json"))
    listed = client.deployments()
    assert set(listed[0]) == set(example("deployments.json")[0])


@pytest.mark.parametrize("idle,running,slots,kwargs,expected", [
    (0, 0, 8, {}, 0),
    (1, 0, 8, {}, 1),
    (17, 0, 8, {}, 3),
    (10, 6, 8, {}, 2),
    (0, 0, 8, {"min_executors": 2}, 2),
    (1000, 0, 8, {"max_executors": 20}, 20),
    (1000, 0, 8, {"current_executors": 4, "max_step": 5}, 9),
    (0, 0, 8, {"current_executors": 10, "max_step": 3}, 7),
])
def test_executors_for_queue(idle, running, slots, kwargs, expected):
    assert marathon.executors_for_queue(idle, running, slots, **kwargs) == expected


def test_executors_for_queue_rejects_nonsense():
    with pytest.raises(ValueError):
        marathon.executors_for_queue(1, 0, 0)
    with pytest.raises(ValueError):
        marathon.executors_for_queue(-1, 0, 4)


class _Scripted(object):
    """A loopback HTTP server answering every request with one scripted (status, content type, body)."""

    def __init__(self, status, body, content_type="application/json"):
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        answer = (status, content_type, body if isinstance(body, bytes) else body.encode("utf-8"))
        self.requests = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                seen.append((self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(answer[0])
                self.send_header("Content-Type", answer[1])
                self.send_header("Content-Length", str(len(answer[2])))
                self.end_headers()
                self.wfile.write(answer[2])

            do_GET = do_PUT = do_POST = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever)
        self.thread.daemon = True
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    servers = []

    def start(status, body, content_type="application/json"):
        server = _Scripted(status, body, content_type)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.close()


def test_409_already_exists_is_a_conflict_not_a_lock(scripted):
    """Marathon's 'already exists' 409 fails at once with Marathon's words; it is not retried as a lock."""
    server = scripted(409, json.dumps({"message": "An app with id [/bsaas/atlas/execute] already exists."}))
    client = marathon.MarathonClient(server.url, timeout=5)
    with pytest.raises(marathon.MarathonConflict) as err:
        marathon.with_lock_retry(lambda: client.put_app(APP["id"], APP), lock_timeout=5, interval=0.01)
    assert not isinstance(err.value, marathon.MarathonLocked)
    assert "An app with id [/bsaas/atlas/execute] already exists." in err.value.message
    assert "not a deployment lock" in err.value.message and err.value.status == 409
    assert len(server.requests) == 1


def test_lock_message_keeps_marathons_words(fake, client):
    fake.state.lock_next = 1000
    with pytest.raises(marathon.MarathonLocked) as err:
        marathon.ensure_app(client, APP["id"], definition=APP, lock_timeout=0, **FAST)
    assert "App is locked by one or more deployments" in err.value.message


def test_wrong_url_answering_404_everywhere_is_not_an_absent_app(scripted):
    server = scripted(404, "<html><body><h1>404 Not Found</h1>nginx</body></html>", "text/html")
    client = marathon.MarathonClient(server.url + "/not-marathon", timeout=5)
    with pytest.raises(marathon.MarathonError) as err:
        marathon.ensure_app(client, APP["id"], state="absent", **FAST)
    assert "does not answer as Marathon's REST API" in err.value.message and "/v2/info" in err.value.message
    assert "404 Not Found" in err.value.message and "Check url" in err.value.message


def test_absent_app_on_real_marathon_is_still_unchanged(fake, client):
    result = marathon.ensure_app(client, "/bsaas/none", state="absent", **FAST)
    assert not result["changed"]
    assert ("GET", "/v2/info") in [(r[0], r[1]) for r in fake.state.requests]


def test_502_page_body_is_kept(scripted):
    page = "<html><head><title>502 Bad Gateway</title></head><body>upstream marathon-1 refused</body></html>"
    server = scripted(502, page, "text/html")
    client = marathon.MarathonClient(server.url, timeout=5)
    with pytest.raises(marathon.MarathonError) as err:
        client.get_app(APP["id"])
    assert err.value.status == 502 and err.value.body == page
    assert "502 Bad Gateway" in err.value.message and "upstream marathon-1 refused" in err.value.message
