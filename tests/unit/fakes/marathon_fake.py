# -*- coding: utf-8 -*-
"""TEST FAKE of the Marathon v2 REST API, for unit and molecule tests only. Not part of the product.

It serves, on loopback, the endpoints marathon_app uses (GET/PUT/DELETE /v2/apps/{id}, POST .../restart,
GET /v2/deployments, GET /v2/queue, GET /v2/info) with the payload shapes of Marathon's own examples
(../shared/reference/marathon/examples), and can be scripted to answer 409 (deployment lock),
422 (validation error), to keep a deployment running for several polls, or to record a task failure.

Python 3.6 compatible (EL7), standard library only. Run standalone with
``python3 marathon_fake.py --port 8080`` (used by molecule/orchestration).
"""

from __future__ import absolute_import, division, print_function

import argparse
import base64
import copy
import datetime
import json
import socket
import threading
import uuid

try:
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from socketserver import ThreadingMixIn
    from urllib.parse import parse_qs, urlparse
except ImportError:  # pragma: no cover - Python 2 is not a target
    raise

# Fields Marathon fills with defaults when it stores an app (subset of a real GET answer).
APP_DEFAULTS = {
    "instances": 1, "cpus": 1.0, "mem": 128.0, "disk": 0.0, "gpus": 0, "executor": "",
    "constraints": [], "uris": [], "fetch": [], "storeUrls": [], "backoffSeconds": 1,
    "backoffFactor": 1.15, "maxLaunchDelaySeconds": 3600, "healthChecks": [],
    "readinessChecks": [], "dependencies": [], "labels": {}, "env": {}, "secrets": {},
    "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
    "killSelection": "YOUNGEST_FIRST", "requirePorts": False,
    "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
}
HEALTH_CHECK_DEFAULTS = {"gracePeriodSeconds": 300, "intervalSeconds": 60, "timeoutSeconds": 20,
                         "maxConsecutiveFailures": 3, "delaySeconds": 15}


def _now():
    return datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FakeMarathonState:
    """What the fake remembers: apps, running deployments and the scripted misbehaviour."""

    def __init__(self):
        self.lock = threading.Lock()
        self.apps = {}
        self.deployments = []
        self.requests = []          # (method, path, query, body) for assertions
        self.credentials = None     # (user, password) to demand basic auth
        self.lock_next = 0          # answer 409 to this many writes
        self.reject_next = None     # a 422 body to answer the next write with
        self.deployment_polls = 0   # polls of /v2/deployments a new deployment stays listed
        self.fail_tasks = None      # message recorded as lastTaskFailure; deployment never finishes

    def store(self, app):
        stored = copy.deepcopy(APP_DEFAULTS)
        stored.update(copy.deepcopy(app))
        stored["healthChecks"] = [dict(HEALTH_CHECK_DEFAULTS, **hc) for hc in stored.get("healthChecks", [])]
        stored["version"] = _now()
        stored["versionInfo"] = {"lastScalingAt": stored["version"], "lastConfigChangeAt": stored["version"]}
        self.apps[app["id"]] = stored
        return stored

    def start_deployment(self, app_id, action):
        deployment = {
            "id": str(uuid.uuid4()), "version": _now(), "affectedApps": [app_id], "affectedPods": [],
            "steps": [{"actions": [{"action": action, "app": app_id}]}],
            "currentActions": [{"action": action, "app": app_id, "readinessCheckResults": []}],
            "currentStep": 1, "totalSteps": 1,
            "_polls_left": self.deployment_polls, "_never": bool(self.fail_tasks),
        }
        if self.fail_tasks and app_id in self.apps:
            self.apps[app_id]["lastTaskFailure"] = {
                "appId": app_id, "host": "agent-1.example.org", "message": self.fail_tasks,
                "state": "TASK_FAILED", "taskId": app_id.strip("/").replace("/", "_") + ".1",
                "timestamp": _now(), "version": self.apps[app_id]["version"], "slaveId": "S1",
            }
        self.deployments.append(deployment)
        return {"deploymentId": deployment["id"], "version": deployment["version"]}

    def visible_deployments(self):
        """Deployments still running; each poll brings a slow deployment one step closer to done."""
        listed = []
        for deployment in list(self.deployments):
            if deployment["_never"] or deployment["_polls_left"] > 0:
                deployment["_polls_left"] -= 1
                listed.append(dict((k, v) for k, v in deployment.items() if not k.startswith("_")))
            else:
                self.deployments.remove(deployment)
        return listed

    def locked(self, app_id):
        return [d for d in self.deployments if app_id in d["affectedApps"]]


class FakeMarathonHandler(BaseHTTPRequestHandler):
    """Request handler of the test fake; see the module docstring."""

    server_version = "FakeMarathonForTests/1.10"

    def log_message(self, *args):  # keep test output clean
        return

    def _send(self, status, payload):
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw.decode("utf-8")) if raw else None

    def _authorised(self):
        wanted = self.server.state.credentials
        if not wanted:
            return True
        header = self.headers.get("Authorization", "")
        token = base64.b64encode(("%s:%s" % wanted).encode("utf-8")).decode("ascii")
        if header == "Basic " + token:
            return True
        self._send(401, {"message": "Invalid username or password."})
        return False

    def _route(self, method):
        url = urlparse(self.path)
        query = dict((k, v[-1]) for k, v in parse_qs(url.query).items())
        body = self._body() if method in ("PUT", "POST") else None
        state = self.server.state
        with state.lock:
            state.requests.append((method, url.path, query, body))
            if not self._authorised():
                return
            if url.path == "/v2/info":
                return self._send(200, {"name": "marathon", "version": "1.10.26", "leader": "127.0.0.1:8080",
                                        "elected": True, "http_config": {"http_port": 8080}})
            if url.path == "/v2/deployments":
                return self._send(200, state.visible_deployments())
            if url.path == "/v2/queue":
                return self._send(200, {"queue": []})
            if not url.path.startswith("/v2/apps/"):
                return self._send(404, {"message": "Unknown path %s" % url.path})
            app_id = url.path[len("/v2/apps"):]
            restart = app_id.endswith("/restart") and method == "POST"
            if restart:
                app_id = app_id[:-len("/restart")]
            if method == "GET":
                if app_id not in state.apps:
                    return self._send(404, {"message": "App '%s' does not exist" % app_id})
                app = copy.deepcopy(state.apps[app_id])
                app.update({"tasksRunning": app["instances"], "tasksHealthy": app["instances"],
                            "tasksStaged": 0, "tasksUnhealthy": 0,
                            "deployments": [{"id": d["id"]} for d in state.locked(app_id)]})
                return self._send(200, {"app": app})
            return self._write(method, app_id, query, body, restart)

    def _write(self, method, app_id, query, body, restart):
        state = self.server.state
        force = query.get("force") == "true"
        if state.lock_next > 0 or (state.locked(app_id) and not force):
            if state.lock_next > 0:
                state.lock_next -= 1
            held = state.locked(app_id) or [{"id": "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"}]
            return self._send(409, {
                "message": "App is locked by one or more deployments. Override with the option '?force=true'. "
                           "View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
                "deployments": [{"id": d["id"]} for d in held]})
        if force:
            state.deployments = [d for d in state.deployments if app_id not in d["affectedApps"]]
        if state.reject_next is not None and method == "PUT":
            rejection, state.reject_next = state.reject_next, None
            return self._send(422, rejection)
        if method == "DELETE":
            if app_id not in state.apps:
                return self._send(404, {"message": "App '%s' does not exist" % app_id})
            del state.apps[app_id]
            return self._send(200, state.start_deployment(app_id, "StopApplication"))
        if restart:
            if app_id not in state.apps:
                return self._send(404, {"message": "App '%s' does not exist" % app_id})
            return self._send(200, state.start_deployment(app_id, "RestartApplication"))
        if method == "PUT":
            if body.get("id") not in (None, app_id):
                return self._send(422, {"message": "Object is not valid", "details": [
                    {"path": "/id", "errors": ["id in body does not match the URL"]}]})
            partial = query.get("partialUpdate", "true") == "true"
            existing = state.apps.get(app_id)
            if existing is not None and partial:
                merged = dict((k, v) for k, v in existing.items() if k not in ("version", "versionInfo"))
                merged.update(body)
                body = merged
            body["id"] = app_id
            created = existing is None
            state.store(body)
            action = "StartApplication" if created else "RestartApplication"
            return self._send(201 if created else 200, state.start_deployment(app_id, action))
        return self._send(405, {"message": "Method not allowed"})

    def do_GET(self):
        self._route("GET")

    def do_PUT(self):
        self._route("PUT")

    def do_POST(self):
        self._route("POST")

    def do_DELETE(self):
        self._route("DELETE")


class FakeMarathonServer(ThreadingMixIn, HTTPServer):
    """Threaded loopback HTTP server carrying a FakeMarathonState (test fake)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address=("127.0.0.1", 0)):
        HTTPServer.__init__(self, address, FakeMarathonHandler)
        self.state = FakeMarathonState()

    @property
    def url(self):
        return "http://%s:%d" % self.server_address[:2]


def start_fake_marathon():
    """Start the test fake on a free loopback port in a thread; call .shutdown() when done."""
    server = FakeMarathonServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return server


def main():
    parser = argparse.ArgumentParser(description="TEST FAKE of Marathon's v2 API (loopback only).")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--user")
    parser.add_argument("--password-file")
    args = parser.parse_args()
    server = FakeMarathonServer(("127.0.0.1", args.port))
    if args.user and args.password_file:
        with open(args.password_file) as handle:
            server.state.credentials = (args.user, handle.read().strip())
    server.address_family = socket.AF_INET
    server.serve_forever()


if __name__ == "__main__":
    main()
