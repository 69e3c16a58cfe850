# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Marathon v2 REST client, app comparison and scaling helpers (Python 3.6 compatible)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import math
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode
from ansible.module_utils.urls import open_url

# Fields Marathon adds to an app when it answers GET /v2/apps/{id}; they are state, not intent.
SERVER_FILLED_FIELDS = frozenset([
    "version", "versionInfo", "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy",
    "deployments", "tasks", "lastTaskFailure", "taskStats", "readinessCheckResults", "counts",
    "ports", "uris",
])

# Maps whose key set belongs to the user: a key removed from the desired app must be removed on the server,
# whereas elsewhere a key Marathon fills with its default is ignored.
USER_OWNED_MAPS = frozenset(["env", "labels", "secrets"])


class MarathonError(Exception):
    """A Marathon request failed; ``message`` says what happened and how to fix it."""

    def __init__(self, message, status=None, body=None):
        super(MarathonError, self).__init__(message)
        self.message = message
        self.status = status
        self.body = body


class MarathonLocked(MarathonError):
    """HTTP 409: a running deployment holds the lock on the app (retried up to lock_timeout)."""


class MarathonConflict(MarathonError):
    """HTTP 409 that is not a deployment lock, e.g. "An app with id [/x] already exists" (never retried)."""


# How much of a non-JSON error page (a proxy's 502, a web server's 404) the error message quotes;
# the whole page stays in ``body``.
ERROR_PAGE_QUOTE = 600


def normalise_app_id(app_id):
    """Marathon ids are absolute paths; '/htcondor/cm/' and 'htcondor/cm' are the same app."""
    app_id = (app_id or "").strip()
    if not app_id:
        raise MarathonError("The app id is empty: set app_id (for example '/bsaas/atlas/cm').")
    return "/" + app_id.strip("/")


def describe_validation_error(body):
    """Turn a 422 answer into one line per offending field path."""
    if not isinstance(body, dict):
        return str(body)
    lines = [body.get("message", "Object is not valid")]
    for detail in body.get("details") or []:
        path = detail.get("path", "/")
        errors = detail.get("errors") or []
        lines.append("%s: %s" % (path, "; ".join(str(e) for e in errors)))
    return " | ".join(lines)


def marathon_message(body):
    """Marathon's own words from an error answer: its ``message``, or the text of a non-JSON page."""
    if isinstance(body, dict):
        return str(body.get("message") or json.dumps(body, sort_keys=True))
    text = " ".join(str(body or "").split())
    if len(text) > ERROR_PAGE_QUOTE:
        text = text[:ERROR_PAGE_QUOTE] + "..."
    return text or "(empty body)"


def is_deployment_lock(body):
    """A 409 is a deployment lock when it lists the deployments holding the app, or says so."""
    if not isinstance(body, dict):
        return False
    if any(isinstance(d, dict) and d.get("id") for d in body.get("deployments") or []):
        return True
    return "locked" in str(body.get("message", "")).lower()


def describe_lock(body):
    ids = []
    if isinstance(body, dict):
        ids = [d.get("id") for d in body.get("deployments") or [] if isinstance(d, dict)]
    return ", ".join(i for i in ids if i) or "unknown"


class MarathonClient:
    """Talks to one or more Marathon instances; any instance proxies to the leader."""

    def __init__(self, urls, username=None, password=None, validate_certs=True, ca_path=None,
                 client_cert=None, client_key=None, timeout=30):
        if isinstance(urls, str):
            urls = [urls]
        self.urls = [u.rstrip("/") for u in urls if u]
        if not self.urls:
            raise MarathonError("No Marathon URL given: set url (for example https://marathon.example.org:8443).")
        self.username = username
        self.password = password
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.client_cert = client_cert
        self.client_key = client_key
        self.timeout = timeout
        self._api_checked = False

    def check_api(self, after=None):
        """Make sure the URL is Marathon's API (GET /v2/info names Marathon), once per client.

        A 404 only means "no such app" when the server is Marathon: a wrong host, port or path prefix
        answers 404 to everything, and must not pass for an app that is already absent.
        """
        if self._api_checked:
            return
        try:
            info = self.request("GET", "/v2/info")
        except MarathonError as err:
            raise MarathonError(
                "%s%s does not answer as Marathon's REST API: GET /v2/info failed (%s). Check url (host, port "
                "and any path prefix; it should be the address of Marathon's web UI)."
                % ("After %s, " % after if after else "", ", ".join(self.urls), err.message), err.status, err.body)
        if not isinstance(info, dict) or "version" not in info:
            raise MarathonError(
                "%s%s does not answer as Marathon's REST API: GET /v2/info gave %s instead of Marathon's name and "
                "version. Check url (host, port and any path prefix)."
                % ("After %s, " % after if after else "", ", ".join(self.urls), marathon_message(info)),
                200, info)
        self._api_checked = True

    def request(self, method, path, body=None, query=None):
        """Send one request and return the decoded JSON (or None); raise MarathonError on failure."""
        last_error = None
        for base in self.urls:
            url = base + path
            if query:
                url += "?" + urlencode(sorted(query.items()))
            data = json.dumps(body) if body is not None else None
            kwargs = dict(
                method=method, data=data, timeout=self.timeout,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                validate_certs=self.validate_certs, url_username=self.username,
                url_password=self.password, force_basic_auth=bool(self.username),
                client_cert=self.client_cert, client_key=self.client_key, ca_path=self.ca_path,
            )
            try:
                response = open_url(url, **kwargs)
                return _decode(response.read())
            except HTTPError as err:
                raise _http_error(method, url, err)
            except URLError as err:
                # Connection refused or TLS failure on this instance: try the next Marathon.
                last_error = err
            except (OSError, ValueError) as err:
                last_error = err
        raise MarathonError(
            "Cannot reach Marathon at %s: %s. Check url, that Marathon is running, and the TLS options "
            "(validate_certs, ca_path)." % (", ".join(self.urls), getattr(last_error, "reason", last_error)))

    def get_app(self, app_id):
        """Return the app as Marathon stores it, or None when it does not exist."""
        try:
            answer = self.request("GET", "/v2/apps" + _quote_id(app_id), query={"embed": "app.lastTaskFailure"})
        except MarathonError as err:
            if err.status != 404:
                raise
            self.check_api(after="HTTP 404 to GET /v2/apps%s (%s)" % (_quote_id(app_id), marathon_message(err.body)))
            return None
        return (answer or {}).get("app")

    def put_app(self, app_id, definition, force=False, partial_update=False):
        query = {"force": _flag(force), "partialUpdate": _flag(partial_update)}
        return self.request("PUT", "/v2/apps" + _quote_id(app_id), body=definition, query=query) or {}

    def scale_app(self, app_id, instances, force=False):
        return self.put_app(app_id, {"instances": int(instances)}, force=force, partial_update=True)

    def restart_app(self, app_id, force=False):
        return self.request("POST", "/v2/apps%s/restart" % _quote_id(app_id), body={},
                            query={"force": _flag(force)}) or {}

    def delete_app(self, app_id, force=False):
        return self.request("DELETE", "/v2/apps" + _quote_id(app_id), query={"force": _flag(force)}) or {}

    def deployments(self):
        return self.request("GET", "/v2/deployments") or []

    def queue(self):
        return (self.request("GET", "/v2/queue") or {}).get("queue", [])


def _flag(value):
    return "true" if value else "false"


def _quote_id(app_id):
    return quote(normalise_app_id(app_id), safe="/")


def _decode(raw):
    if not raw:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    raw = raw.strip()
    return json.loads(raw) if raw else None


def _error_body(err):
    """The answer of a failed request: decoded JSON, else the page's text (a proxy's HTML), else None."""
    try:
        raw = err.read()
    except (AttributeError, OSError, ValueError):
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        return _decode(raw)
    except ValueError:
        return raw.strip() or None


def _http_error(method, url, err):
    body = _error_body(err)
    status = err.code
    if status == 401 or status == 403:
        msg = ("Marathon refused %s %s with HTTP %d: check username/password (Marathon --http_credentials) "
               "and that the account may change apps." % (method, url, status))
        return MarathonError(msg, status, body)
    if status == 409 and is_deployment_lock(body):
        return MarathonLocked(
            "App is locked by deployment(s) %s (HTTP 409 on %s %s: %s). Wait for them to finish, raise "
            "lock_timeout, or set force=true to cancel them."
            % (describe_lock(body), method, url, marathon_message(body)), status, body)
    if status == 409:
        return MarathonConflict(
            "Marathon refused %s %s with HTTP 409 (conflict, not a deployment lock): %s. Waiting or force=true "
            "does not help; use another app_id, or remove the existing app first."
            % (method, url, marathon_message(body)), status, body)
    if status == 422 or status == 400:
        return MarathonError(
            "Marathon rejected the app definition (HTTP %d): %s. Fix the named field in the definition."
            % (status, describe_validation_error(body)), status, body)
    return MarathonError("Marathon answered HTTP %d to %s %s: %s" % (status, method, url, marathon_message(body)),
                         status, body)


def strip_server_fields(app):
    """A copy of ``app`` without the fields Marathon fills in, for display and comparison."""
    if app is None:
        return None
    clean = dict((k, copy.deepcopy(v)) for k, v in app.items() if k not in SERVER_FILLED_FIELDS and v is not None)
    if "id" in clean:
        clean["id"] = normalise_app_id(clean["id"])
    return clean


def _same(desired, current, key=None):
    """True when ``current`` already carries everything ``desired`` asks for.

    Marathon answers with every default filled in, so only the keys the user wrote are compared, except in
    user-owned maps (env, labels, secrets) where an extra key on the server is a difference.
    """
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return False
        if key in USER_OWNED_MAPS and set(desired) != set(current):
            return False
        return all(_same(v, current.get(k), k) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(current, list) or len(desired) != len(current):
            return False
        return all(_same(d, c, key) for d, c in zip(desired, current))
    if isinstance(desired, bool) or isinstance(current, bool):
        return desired is current
    if isinstance(desired, (int, float)) and isinstance(current, (int, float)):
        return float(desired) == float(current)
    return desired == current


def app_differs(desired, current):
    """True when PUTting ``desired`` would change the app stored as ``current``."""
    if current is None:
        return True
    desired = strip_server_fields(desired)
    current = strip_server_fields(current)
    return not _same(desired, current)


def executors_for_queue(idle_jobs, running_jobs, slots_per_executor, min_executors=0, max_executors=None,
                        current_executors=None, max_step=None):
    """How many executor instances a pool needs for its queue; the contract a later autoscaler relies on.

    Enough executors to give every running and idle job a slot, clamped to [min_executors, max_executors].
    With ``max_step``, one call never moves more than that many instances away from ``current_executors``,
    so a burst of short jobs does not start (or kill) a whole site at once.
    """
    if slots_per_executor < 1:
        raise ValueError("slots_per_executor must be at least 1, got %r" % (slots_per_executor,))
    if idle_jobs < 0 or running_jobs < 0:
        raise ValueError("job counts cannot be negative")
    wanted = int(math.ceil(float(idle_jobs + running_jobs) / slots_per_executor))
    wanted = max(wanted, min_executors)
    if max_executors is not None:
        wanted = min(wanted, max_executors)
    if max_step is not None and current_executors is not None:
        wanted = max(current_executors - max_step, min(current_executors + max_step, wanted))
    return wanted


def _failure_text(app):
    failure = (app or {}).get("lastTaskFailure")
    if not failure:
        return "no task failure recorded; see GET /v2/queue for offers Marathon declined"
    return "last task failure on %s at %s: %s (%s)" % (
        failure.get("host", "?"), failure.get("timestamp", "?"), failure.get("message", ""), failure.get("state", "?"))


def wait_for_deployment(client, app_id, deployment_id, timeout, interval=2.0, sleep=time.sleep, clock=time.time):
    """Block until ``deployment_id`` leaves GET /v2/deployments; raise with the task failure on timeout."""
    deadline = clock() + timeout
    while True:
        running = [d for d in client.deployments() if d.get("id") == deployment_id]
        if not running:
            return
        if clock() >= deadline:
            app = client.get_app(app_id)
            step = running[0]
            raise MarathonError(
                "Deployment %s of %s did not finish within %ss (step %s of %s): %s. Fix the cause, or raise "
                "wait_timeout; the deployment keeps running in Marathon."
                % (deployment_id, normalise_app_id(app_id), timeout, step.get("currentStep"),
                   step.get("totalSteps"), _failure_text(app)))
        sleep(interval)


def with_lock_retry(action, lock_timeout, interval=2.0, sleep=time.sleep, clock=time.time):
    """Run ``action`` and retry while Marathon answers 409, for at most ``lock_timeout`` seconds."""
    deadline = clock() + lock_timeout
    while True:
        try:
            return action()
        except MarathonLocked:
            if clock() >= deadline:
                raise
            sleep(interval)


def ensure_app(client, app_id, state="present", definition=None, instances=None, force=False,
               check_mode=False, wait=True, wait_timeout=600, lock_timeout=60, interval=2.0,
               sleep=time.sleep, clock=time.time):
    """Bring one app to ``state``; returns a dict ready for exit_json (changed, app, diff, deployment_id)."""
    app_id = normalise_app_id(app_id)
    current = client.get_app(app_id)
    before = strip_server_fields(current)
    result = {"changed": False, "app_id": app_id, "deployment_id": None,
              "diff": {"before": before or {}, "after": before or {}}}

    def run(action):
        answer = with_lock_retry(action, lock_timeout, interval=interval, sleep=sleep, clock=clock)
        result["changed"] = True
        result["deployment_id"] = (answer or {}).get("deploymentId")
        if wait and result["deployment_id"]:
            wait_for_deployment(client, app_id, result["deployment_id"], wait_timeout, interval, sleep, clock)

    if state == "absent":
        result["diff"]["after"] = {}
        if current is not None:
            result["changed"] = True
            if not check_mode:
                run(lambda: client.delete_app(app_id, force=force))
        result["app"] = None
        return result

    if state == "restarted":
        if current is None:
            raise MarathonError("Cannot restart %s: it does not exist. Create it first with state=present." % app_id)
        result["changed"] = True
        if not check_mode:
            run(lambda: client.restart_app(app_id, force=force))
        result["app"] = before
        return result

    if definition is not None:
        desired = copy.deepcopy(definition)
        desired["id"] = app_id
        if instances is not None:
            desired["instances"] = instances
        after = dict(before or {})
        after.update(strip_server_fields(desired))
        result["diff"]["after"] = after
        if app_differs(desired, current):
            result["changed"] = True
            if not check_mode:
                run(lambda: client.put_app(app_id, desired, force=force, partial_update=False))
    elif instances is not None:
        if current is None:
            raise MarathonError("Cannot scale %s: it does not exist. Pass definition to create it." % app_id)
        after = dict(before)
        after["instances"] = instances
        result["diff"]["after"] = after
        if int(current.get("instances", 0)) != int(instances):
            result["changed"] = True
            if not check_mode:
                run(lambda: client.scale_app(app_id, instances, force=force))
    else:
        raise MarathonError("state=present needs definition (to create or update) or instances (to scale).")

    if result["changed"] and not check_mode:
        result["app"] = strip_server_fields(client.get_app(app_id))
    else:
        result["app"] = result["diff"]["after"]
    return result
