# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""perfSONAR archive clients, per-site aggregation and HTCondor publication.

Written once and used twice: by the ``htcfarm.bsaas.perfsonar_ingest`` module (HTTP through
Ansible's ``open_url``) and by the STARTD_CRON script that the ``perfsonar_ingest`` role installs
next to this file on execute nodes (HTTP through ``urllib``, standard library only, Python 3.6).
Nothing here imports Ansible at module level, so the file runs outside Ansible unchanged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import calendar
import json
import os
import re
import socket
import ssl
import tempfile
import threading
import time
from array import array

try:
    from urllib.parse import urlencode, urljoin
    from urllib.request import Request, HTTPSHandler, build_opener
    from urllib.error import HTTPError, URLError
except ImportError:  # pragma: no cover - Python 2 is not a target, keep the import error readable
    raise

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # execute nodes may lack python3-netaddr; the stdlib ipaddress module then maps hosts
    netaddr = None
    HAS_NETADDR = False
import ipaddress

# What we read from the archives, in the units the figures are published in.
METRIC_THROUGHPUT = "throughput_mbps"   # megabit/s (archives store bit/s)
METRIC_RTT = "rtt_ms"                   # milliseconds
METRIC_LOSS = "loss_rate"               # fraction of packets lost, 0..1
METRIC_OWDELAY = "owdelay_ms"           # one-way delay, milliseconds

# esmond event types read, per the perfSONAR client REST reference and pScheduler's esmond archiver:
# ping (rtt tests) stores histogram-rtt and its round-trip loss as packet-loss-rate-bidir; powstream/owping
# (latency, latencybg) store histogram-owdelay and one-way loss as packet-loss-rate. Histogram buckets are ms.
ESMOND_EVENT_TYPES = (
    ("throughput", METRIC_THROUGHPUT),
    ("histogram-rtt", METRIC_RTT),
    ("histogram-owdelay", METRIC_OWDELAY),
    ("packet-loss-rate-bidir", METRIC_LOSS),
    ("packet-loss-rate", METRIC_LOSS),
)

# Fields of the perfSONAR 5 archive documents, as perfSONAR's logstash pipeline writes them:
# meta.*.ip (03-normalize_endpoints), test.spec (kept as submitted), pscheduler.start_time
# (02-pscheduler_common), result.throughput (06-result_throughput), result.rtt.mean in seconds and
# result.packets.loss (06-result_rtt, ISO 8601 durations converted to seconds), result.latency.mean in ms
# and result.packets.loss (06-result_latency, histogram statistics of histogram-latency).
OPENSEARCH_SOURCE_FIELDS = [
    "meta.source.ip", "meta.destination.ip", "test.type", "test.spec.udp", "test.spec.source",
    "test.spec.dest", "pscheduler.start_time", "result.throughput", "result.packets.loss", "result.rtt.mean",
    "result.latency.mean",
]
OPENSEARCH_TEST_TYPES = ["throughput", "rtt", "latencybg", "latency"]

# One MiB (HTCondor's TransferInputSizeMB unit) is 8.388608 megabit.
MEGABIT_PER_MIB = 8.388608

SITE_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
ATTRIBUTE_PREFIX = "PerfSONAR_"


class ArchiveError(Exception):
    """The archive could not be read; the message names the cause and the fix."""

    def __init__(self, message, status=None):
        super(ArchiveError, self).__init__(message)
        self.status = status


class ConfigError(Exception):
    """The ingestion settings are wrong; the message names the setting and the fix."""


# --------------------------------------------------------------------------------------------
# HTTP: a transport is a callable (method, url, body, headers, timeout) -> (status, bytes).
# It returns HTTP error statuses instead of raising, and raises ArchiveError for network errors.
# --------------------------------------------------------------------------------------------

def _basic_auth_header(username, password):
    token = base64.b64encode("{0}:{1}".format(username, password).encode("utf-8")).decode("ascii")
    return "Basic " + token


def urllib_transport(validate_certs=True, ca_path=None, username=None, password=None):
    """Transport on the standard library, for the STARTD_CRON script on hosts without Ansible."""
    if validate_certs:
        context = ssl.create_default_context(cafile=ca_path or None)
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    opener = build_opener(HTTPSHandler(context=context))
    auth = _basic_auth_header(username, password) if username else None

    def request(method, url, body=None, headers=None, timeout=30):
        all_headers = dict(headers or {})
        if auth:
            all_headers["Authorization"] = auth
        req = Request(url, data=body, headers=all_headers)
        req.get_method = lambda: method
        return _exchange(lambda: opener.open(req, timeout=timeout), url, timeout)

    return request


def open_url_transport(validate_certs=True, ca_path=None, username=None, password=None):
    """Transport on Ansible's open_url, for modules (imported lazily so the cron script needs no Ansible)."""
    from ansible.module_utils.urls import open_url

    def request(method, url, body=None, headers=None, timeout=30):
        return _exchange(lambda: open_url(
            url, data=body, headers=headers or {}, method=method, timeout=timeout,
            validate_certs=validate_certs, ca_path=ca_path or None,
            url_username=username or None, url_password=password or None,
            force_basic_auth=bool(username),
        ), url, timeout)

    return request


def _exchange(send, url, timeout):
    """(status, body) of one request; HTTP errors are answers, network failures an ArchiveError."""
    try:
        response = send()
        try:
            return response.getcode(), response.read()
        finally:
            response.close()
    except HTTPError as err:
        return err.code, _read_error_body(err)
    except (URLError, socket.timeout, ssl.SSLError, OSError) as err:
        raise ArchiveError(_network_error_message(url, err, timeout))


def _read_error_body(err):
    try:
        return err.read() or b""
    except Exception:  # the error body is only used to explain the failure
        return b""


def _network_error_message(url, err, timeout):
    reason = getattr(err, "reason", err)
    text = str(reason)
    if isinstance(reason, socket.timeout) or "timed out" in text:
        return ("perfSONAR archive {0} did not answer within {1}s; raise the timeout setting or check the "
                "archive's load".format(_strip_query(url), timeout))
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(reason, ssl.SSLError):
        return ("TLS verification of perfSONAR archive {0} failed ({1}); set the CA bundle (ca_path) to the "
                "archive's issuing CA".format(_strip_query(url), text))
    return "cannot reach perfSONAR archive {0}: {1}; check the URL and the firewall".format(_strip_query(url), text)


def _strip_query(url):
    return url.split("?", 1)[0]


def fetch_json(transport, method, url, body=None, timeout=30):
    """Call the archive and decode JSON; HTTP errors and malformed bodies become ArchiveError."""
    headers = {"Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    status, raw = transport(method, url, payload, headers, timeout)
    if status >= 400:
        detail = raw[:300].decode("utf-8", "replace").strip() if raw else ""
        hint = {
            401: "check the archive credentials (username/password)",
            403: "the account lacks read access to the archive; grant it read on the pscheduler indices",
            404: "check the archive URL (esmond: .../esmond/perfsonar/archive/, OpenSearch: https://host:9200)",
        }.get(status, "check the archive's logs")
        raise ArchiveError("perfSONAR archive answered HTTP {0} for {1}: {2}; {3}".format(
            status, _strip_query(url), detail or "(empty body)", hint), status=status)
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ArchiveError("perfSONAR archive sent malformed JSON for {0} ({1}); check that the URL points at "
                           "the archive API and not at a proxy or login page".format(_strip_query(url), err))


# --------------------------------------------------------------------------------------------
# Measurements. A sample is a tuple (source_ip, destination_ip, metric, unix_ts, value).
# --------------------------------------------------------------------------------------------

def histogram_mean(histogram):
    """Mean of an esmond delay histogram {"34.4": 506, ...} (bucket in ms -> packet count)."""
    total = 0
    weighted = 0.0
    for bucket, count in histogram.items():
        count = int(count)
        total += count
        weighted += float(bucket) * count
    if total == 0:
        return None
    return weighted / total


class EsmondClient:
    """esmond REST API (perfSONAR 4, still served by perfSONAR 5): metadata search, then base data."""

    def __init__(self, archive_url, transport, page_size=1000, timeout=30):
        if not archive_url.endswith("/"):
            archive_url += "/"
        self.archive_url = archive_url
        self.transport = transport
        self.page_size = page_size
        self.timeout = timeout
        self.requests = 0
        self.vanished = []
        self.skipped_udp = 0
        self.unreadable_timestamps = 0

    def _get(self, url):
        self.requests += 1
        return fetch_json(self.transport, "GET", url, timeout=self.timeout)

    def metadata(self, event_type, window_seconds):
        """All metadata with this event type updated in the window, following limit/offset pages."""
        offset = 0
        while True:
            query = urlencode([("event-type", event_type), ("time-range", int(window_seconds)),
                               ("limit", self.page_size), ("offset", offset)])
            page = self._get(self.archive_url + "?" + query)
            if not isinstance(page, list):
                raise ArchiveError(
                    "esmond metadata search at {0} returned {1}, expected a list; check that the URL ends in "
                    "/esmond/perfsonar/archive/".format(self.archive_url, type(page).__name__))
            yield from page
            if len(page) < self.page_size:
                return
            offset += len(page)

    def samples(self, window_seconds, now):
        """Yield samples for throughput, RTT, one-way delay and loss from every measurement in the window.

        UDP throughput tests are skipped whole: they report the rate they were told to offer and the loss at
        that rate, not what the path can carry.
        """
        oldest = now - window_seconds
        for event_type, metric in ESMOND_EVENT_TYPES:
            for item in self.metadata(event_type, window_seconds):
                source, destination = item.get("source"), item.get("destination")
                base_uri = _esmond_base_uri(item, event_type)
                if not source or not destination or not base_uri:
                    continue
                if _esmond_offered_rate(item):
                    if event_type == "throughput":
                        self.skipped_udp += 1
                    continue
                data_url = urljoin(self.archive_url, base_uri) + "?" + urlencode(
                    [("time-range", int(window_seconds))])
                try:
                    points = self._get(data_url)
                except ArchiveError as err:
                    # esmond's retention may delete a measurement between the search and the fetch
                    if err.status not in (404, 410):
                        raise
                    self.vanished.append(base_uri)
                    continue
                if not isinstance(points, list):
                    raise ArchiveError("esmond data at {0} is not a list of points; check the archive "
                                       "version".format(data_url))
                for point in points:
                    value = _esmond_value(metric, point.get("val"))
                    if value is None:
                        continue
                    ts = parse_timestamp(point.get("ts"))
                    if ts is None:
                        self.unreadable_timestamps += 1
                        continue
                    if ts < oldest:
                        continue
                    yield (source, destination, metric, ts, value)


def _esmond_base_uri(item, event_type):
    for entry in item.get("event-types") or []:
        if entry.get("event-type") == event_type:
            return entry.get("base-uri")
    return None


def _esmond_offered_rate(item):
    """A UDP throughput test: pScheduler's esmond archiver marks it with ip-transport-protocol udp."""
    if str(item.get("ip-transport-protocol", "")).lower() != "udp":
        return False  # powstream is UDP too, but it has no throughput event type
    return any(entry.get("event-type") == "throughput" for entry in item.get("event-types") or [])


def _esmond_value(metric, raw):
    try:
        if metric == METRIC_THROUGHPUT:
            return float(raw) / 1e6
        if metric == METRIC_LOSS:
            if isinstance(raw, dict):
                # the form loss rates are written in; base data normally reads back as the fraction
                denominator = float(raw["denominator"])
                return float(raw["numerator"]) / denominator if denominator else None
            return float(raw)
        if metric in (METRIC_RTT, METRIC_OWDELAY) and isinstance(raw, dict):
            return histogram_mean(raw)
    except (TypeError, ValueError, KeyError):
        return None
    return None


class OpenSearchClient:
    """perfSONAR 5 archive: OpenSearch ``pscheduler_*`` indices, read with the scroll API."""

    def __init__(self, archive_url, transport, index="pscheduler_*", page_size=5000, timeout=30,
                 scroll_keepalive="2m"):
        self.archive_url = archive_url.rstrip("/")
        self.transport = transport
        self.index = index
        self.page_size = page_size
        self.timeout = timeout
        self.scroll_keepalive = scroll_keepalive
        self.requests = 0
        self.skipped_udp = 0
        self.unreadable_timestamps = 0

    def _call(self, method, path, body=None):
        self.requests += 1
        return fetch_json(self.transport, method, self.archive_url + path, body=body, timeout=self.timeout)

    def query(self, window_seconds, now):
        start_ms = int((now - window_seconds) * 1000)
        return {
            "size": self.page_size,
            "sort": ["_doc"],
            "_source": {"includes": OPENSEARCH_SOURCE_FIELDS},
            "query": {"bool": {"filter": [
                {"terms": {"test.type": OPENSEARCH_TEST_TYPES}},
                {"range": {"pscheduler.start_time": {"gte": start_ms, "format": "epoch_millis"}}},
            ]}},
        }

    def documents(self, window_seconds, now):
        """Yield every archive document in the window; always releases the scroll context.

        The next page is requested while the current one is processed, so the archive's query time and our
        parsing overlap instead of adding up.
        """
        path = "/{0}/_search?scroll={1}".format(self.index, self.scroll_keepalive)
        page = self._call("POST", path, self.query(window_seconds, now))
        scroll_id = None
        pending = None
        try:
            while True:
                _check_search_page(page, self.archive_url)
                scroll_id = page.get("_scroll_id") or scroll_id
                hits = page["hits"]["hits"]
                more = len(hits) >= self.page_size and scroll_id
                if more:
                    pending = _Background(self._call, "POST", "/_search/scroll",
                                          {"scroll": self.scroll_keepalive, "scroll_id": scroll_id})
                for hit in hits:
                    yield hit.get("_source") or {}
                if not more:
                    return
                page = pending.result()
                pending = None
        finally:
            if pending is not None:
                pending.wait()  # never leave a request running behind the caller's back
            if scroll_id:
                try:
                    self._call("DELETE", "/_search/scroll", {"scroll_id": scroll_id})
                except ArchiveError:
                    pass  # contexts expire by themselves after scroll_keepalive

    def samples(self, window_seconds, now):
        oldest = now - window_seconds
        for doc in self.documents(window_seconds, now):
            samples = opensearch_samples(doc)
            if not samples:
                self._count_rejected(doc)
                continue
            for sample in samples:
                if sample[3] >= oldest:
                    yield sample

    def _count_rejected(self, doc):
        """Say why a document gave nothing, for the stats (only on the rare empty result)."""
        if _dig(doc, "test.type") == "throughput" and _truthy(_dig(doc, "test.spec.udp")):
            self.skipped_udp += 1
        elif _dig(doc, "pscheduler.start_time") is not None and \
                parse_timestamp(_dig(doc, "pscheduler.start_time")) is None:
            self.unreadable_timestamps += 1


class _Background:
    """One call run in a thread; result() returns its value or raises its exception."""

    def __init__(self, function, *args):
        self._value = None
        self._error = None
        self._thread = threading.Thread(target=self._run, args=(function, args), name="perfsonar-prefetch")
        self._thread.daemon = True
        self._thread.start()

    def _run(self, function, args):
        try:
            self._value = function(*args)
        except Exception as err:  # handed to the caller in result()
            self._error = err

    def wait(self):
        self._thread.join()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _check_search_page(page, archive_url):
    if not isinstance(page, dict) or "hits" not in page or "hits" not in (page.get("hits") or {}):
        raise ArchiveError("OpenSearch at {0} returned no hits object; check that the URL is the OpenSearch "
                           "endpoint of the perfSONAR archive".format(archive_url))
    shards = page.get("_shards") or {}
    if shards.get("failed"):
        raise ArchiveError("OpenSearch at {0} reported {1} failed shards; check the cluster health".format(
            archive_url, shards.get("failed")))


def _dig(doc, dotted):
    # _source keeps the shape the document was indexed with: nested objects, or flat dotted keys
    if dotted in doc:
        return doc[dotted]
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


_DAY_STARTS = {}

# ISO 8601 date and time, extended (2027-01-15T08:00:00Z) or basic (20270115T080000Z) format
_ISO8601 = re.compile(r"^(\d{4})-?(\d\d)-?(\d\d)[T ](\d\d):?(\d\d):?(\d\d)([.,]\d+)?"
                      r"(Z|[+-]\d\d(?::?\d\d)?)?$")


def parse_timestamp(value):
    """A sample time as stored: ISO 8601 text (extended or basic format), epoch seconds or milliseconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1000.0 if value > 1e11 else float(value)
    if not isinstance(value, str):
        return None
    # fast path for what logstash writes (2024-05-01T12:00:00Z or .123Z): no regex, cached day start
    if len(value) >= 20 and value[-1] == "Z" and value[10] == "T" and value[4] == "-" and value[13] == ":":
        try:
            day = _DAY_STARTS.get(value[:10])
            if day is None:
                day = calendar.timegm((int(value[:4]), int(value[5:7]), int(value[8:10]), 0, 0, 0, 0, 0, 0))
                _DAY_STARTS[value[:10]] = day
            seconds = int(value[11:13]) * 3600 + int(value[14:16]) * 60 + float(value[17:-1])
            return day + seconds
        except ValueError:
            pass
    text = value.strip()
    if re.match(r"^\d+(\.\d+)?$", text):
        return parse_timestamp(float(text))  # esmond accepts "ts" as a numeric string
    match = _ISO8601.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = float(match.group(7).replace(",", ".")) if match.group(7) else 0.0
    try:
        ts = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) + fraction
    except (ValueError, OverflowError):
        return None
    offset = match.group(8)
    if offset and offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:] or 0) * 60)
    return ts


def _truthy(value):
    return value is True or (isinstance(value, str) and value.lower() == "true")


def opensearch_samples(doc):
    """Samples of one archive document as perfSONAR's logstash pipeline stores it.

    throughput: result.throughput in bit/s (TCP only: a UDP test reports its offered rate);
    rtt: result.rtt.mean in s (the pipeline converts pScheduler's ISO 8601 durations to seconds);
    latency, latencybg: result.latency.mean, the mean of histogram-latency, in ms (one-way delay);
    rtt, latency, latencybg: result.packets.loss, a fraction.
    Endpoints are meta.source.ip / meta.destination.ip (03-normalize_endpoints); when the pipeline could not
    resolve them, test.spec.source / test.spec.dest are used as they are (a host name stays unmapped).
    """
    meta = doc.get("meta")
    test = doc.get("test")
    result = doc.get("result")
    pscheduler = doc.get("pscheduler")
    if type(meta) is not dict or type(test) is not dict or type(result) is not dict or type(pscheduler) is not dict:
        return _opensearch_samples_flat(doc)  # flat dotted keys, or parts missing: the general path
    try:
        source = meta["source"]["ip"]
        destination = meta["destination"]["ip"]
    except (KeyError, TypeError):
        source = _nested(meta, "source", "ip")
        destination = _nested(meta, "destination", "ip")
    spec = test.get("spec")
    if not source or not destination:
        if not isinstance(spec, dict):
            spec = {}
        source = source or spec.get("source")
        destination = destination or spec.get("dest")
    started = pscheduler.get("start_time")
    ts = _TIMESTAMPS.get(started) if type(started) is str else None
    if ts is None:
        ts = parse_timestamp(started)
        if ts is not None and type(started) is str:
            if len(_TIMESTAMPS) > 200000:
                _TIMESTAMPS.clear()
            _TIMESTAMPS[started] = ts
    if not source or not destination or ts is None:
        return []
    test_type = test.get("type")
    if test_type == "throughput":
        if type(spec) is dict and _truthy(spec.get("udp")):
            return []
        value = result.get("throughput")
        if type(value) is not float:
            value = _number(value)
        return [] if value is None else [(source, destination, METRIC_THROUGHPUT, ts, value / 1e6)]
    out = []
    if test_type == "rtt":
        mean = _number(_nested(result, "rtt", "mean"))
        if mean is not None:
            out.append((source, destination, METRIC_RTT, ts, mean * 1000.0))
    elif test_type in ("latency", "latencybg"):
        mean = _number(_nested(result, "latency", "mean"))
        if mean is not None:
            out.append((source, destination, METRIC_OWDELAY, ts, mean))
    else:
        return out
    loss = _number(_nested(result, "packets", "loss"))
    if loss is not None:
        out.append((source, destination, METRIC_LOSS, ts, loss))
    return out


# Sample times already parsed: a mesh's tests start on a schedule, so the same texts recur (bounded).
_TIMESTAMPS = {}


def _nested(node, first, second):
    inner = node.get(first)
    return inner.get(second) if isinstance(inner, dict) else None


def _opensearch_samples_flat(doc):
    """opensearch_samples for documents whose _source keeps flat dotted keys (or lacks whole objects)."""
    source = _dig(doc, "meta.source.ip") or _dig(doc, "test.spec.source")
    destination = _dig(doc, "meta.destination.ip") or _dig(doc, "test.spec.dest")
    ts = parse_timestamp(_dig(doc, "pscheduler.start_time"))
    if not source or not destination or ts is None:
        return []
    test_type = _dig(doc, "test.type")
    out = []
    if test_type == "throughput":
        if _truthy(_dig(doc, "test.spec.udp")):
            return []
        value = _number(_dig(doc, "result.throughput"))
        if value is not None:
            out.append((source, destination, METRIC_THROUGHPUT, ts, value / 1e6))
    elif test_type == "rtt":
        mean = _number(_dig(doc, "result.rtt.mean"))
        if mean is not None:
            out.append((source, destination, METRIC_RTT, ts, mean * 1000.0))
    elif test_type in ("latency", "latencybg"):
        mean = _number(_dig(doc, "result.latency.mean"))
        if mean is not None:
            out.append((source, destination, METRIC_OWDELAY, ts, mean))
    if test_type in ("rtt", "latency", "latencybg"):
        loss = _number(_dig(doc, "result.packets.loss"))
        if loss is not None:
            out.append((source, destination, METRIC_LOSS, ts, loss))
    return out


def _number(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# Sites: map measurement hosts to sites by CIDR.
# --------------------------------------------------------------------------------------------

class SiteMap:
    """Map addresses to site names from {site: [cidr, ...]}; the most specific prefix wins."""

    def __init__(self, site_cidrs):
        if not isinstance(site_cidrs, dict) or not site_cidrs:
            raise ConfigError("sites must map each site name to a list of CIDRs, e.g. "
                              "{torino: [192.0.2.0/24]}")
        self.sites = sorted(site_cidrs)
        self._networks = []
        for site in self.sites:
            if not SITE_NAME_PATTERN.match(site):
                raise ConfigError("site name {0!r} is not usable in a ClassAd attribute; use letters, digits, "
                                  "'_' or '-', starting with a letter".format(site))
            cidrs = site_cidrs[site]
            if isinstance(cidrs, str) or not cidrs:
                raise ConfigError("sites.{0} must be a non-empty list of CIDRs".format(site))
            for cidr in cidrs:
                self._networks.append((self._parse(site, cidr), site))
        attribute_names = {}
        for site in self.sites:
            attr = site_attribute_suffix(site)
            if attr in attribute_names:
                raise ConfigError("sites {0!r} and {1!r} give the same ClassAd attribute suffix {2!r}; rename "
                                  "one".format(attribute_names[attr], site, attr))
            attribute_names[attr] = site
        # longest prefix first, so a /28 carved out of another site's /16 maps correctly
        self._networks.sort(key=lambda pair: -pair[0].prefixlen)
        self._cache = {}

    @staticmethod
    def _parse(site, cidr):
        try:
            if HAS_NETADDR:
                return netaddr.IPNetwork(cidr)
            return ipaddress.ip_network(u"{0}".format(cidr), strict=False)
        except Exception as err:
            raise ConfigError("sites.{0}: {1!r} is not a CIDR ({2}); write it as 192.0.2.0/24 or "
                              "2001:db8::/48".format(site, cidr, err))

    def site_of(self, address):
        """Site name of an address, or None when no site's CIDR holds it (cached: meshes repeat hosts)."""
        try:
            return self._cache[address]
        except KeyError:
            pass
        site = None
        try:
            ip = netaddr.IPAddress(address) if HAS_NETADDR else ipaddress.ip_address(u"{0}".format(address))
        except Exception:
            ip = None
        if ip is not None:
            for network, name in self._networks:
                if network.version == ip.version and ip in network:
                    site = name
                    break
        self._cache[address] = site
        return site


def site_attribute_suffix(site):
    """ClassAd-safe suffix for a site name (dashes are not allowed in attribute names)."""
    return site.replace("-", "_")


# --------------------------------------------------------------------------------------------
# Aggregation per site pair.
# --------------------------------------------------------------------------------------------

DEFAULT_SETTINGS = {
    "window_seconds": 7 * 86400,
    "max_age_seconds": 2 * 86400,
    "min_samples": 1,
    "use_reverse_direction": True,
    "fallback": {},
}


def _median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2.0


class PairAggregator:
    """Collect samples per (source site, destination site, metric) and summarise them.

    Throughput, RTT and one-way delay use the median (a failed or disturbed test does not drag the figure), loss the mean
    (rare loss events are exactly what must show).
    """

    def __init__(self, site_map):
        self.site_map = site_map
        self.values = {}
        self.newest = {}
        self.samples_seen = 0
        self.samples_used = 0
        self.unmapped_hosts = set()
        self._pair_sites = {}

    def _sites_of(self, source, destination):
        """(source site, destination site) of a host pair, None when unmapped or inside one site (cached)."""
        source_site = self.site_map.site_of(source)
        destination_site = self.site_map.site_of(destination)
        if source_site is None or destination_site is None:
            if source_site is None:
                self.unmapped_hosts.add(source)
            if destination_site is None:
                self.unmapped_hosts.add(destination)
            sites = None
        elif source_site == destination_site:
            sites = None
        else:
            sites = (source_site, destination_site)
        self._pair_sites[(source, destination)] = sites
        return sites

    def add(self, sample):
        self.add_all((sample,))

    def add_all(self, samples):
        """Bucket every sample by (source site, destination site, metric); values kept as C doubles."""
        pair_sites = self._pair_sites
        values = self.values
        newest = self.newest
        seen = used = 0
        for source, destination, metric, ts, value in samples:
            seen += 1
            pair = (source, destination)
            if pair in pair_sites:
                sites = pair_sites[pair]
            else:
                sites = self._sites_of(source, destination)
            if sites is None:
                continue
            key = sites + (metric,)
            bucket = values.get(key)
            if bucket is None:
                bucket = values[key] = array("d")
                newest[key] = ts
            elif ts > newest[key]:
                newest[key] = ts
            bucket.append(value)
            used += 1
        self.samples_seen += seen
        self.samples_used += used
        return self

    def summary(self, now, settings=None):
        """Figures per ordered site pair, applying age limits and documented fallbacks.

        For each metric: fresh measurement of that direction -> fresh measurement of the reverse direction
        (links are usually symmetric) -> configured fallback value -> absent (ClassAd UNDEFINED).
        """
        cfg = dict(DEFAULT_SETTINGS)
        cfg.update(settings or {})
        fresh = {}
        for key, values in self.values.items():
            age = now - self.newest[key]
            if age <= cfg["max_age_seconds"] and len(values) >= cfg["min_samples"]:
                value = sum(values) / len(values) if key[2] == METRIC_LOSS else _median(values)
                fresh[key] = (value, age, len(values))
        fallback = cfg.get("fallback") or {}
        pairs = {}
        sites = self.site_map.sites
        for source_site in sites:
            for destination_site in sites:
                if source_site == destination_site:
                    continue
                figures = {}
                for metric in (METRIC_THROUGHPUT, METRIC_RTT, METRIC_OWDELAY, METRIC_LOSS):
                    found = fresh.get((source_site, destination_site, metric))
                    origin = "measured"
                    if found is None and cfg["use_reverse_direction"]:
                        found = fresh.get((destination_site, source_site, metric))
                        origin = "reverse"
                    if found is None and metric == METRIC_RTT:
                        # no ping between the sites: a round trip is the sum of the two one-way delays
                        forward = fresh.get((source_site, destination_site, METRIC_OWDELAY))
                        backward = fresh.get((destination_site, source_site, METRIC_OWDELAY))
                        if forward is not None and backward is not None:
                            found = (forward[0] + backward[0], max(forward[1], backward[1]),
                                     min(forward[2], backward[2]))
                            origin = "one-way"
                    if found is None and fallback.get(metric) is not None:
                        found = (float(fallback[metric]), None, 0)
                        origin = "fallback"
                    if found is None:
                        continue
                    figures[metric] = {"value": round(found[0], 6), "age_seconds":
                                       None if found[1] is None else int(found[1]),
                                       "samples": found[2], "origin": origin}
                if figures:
                    pairs[(source_site, destination_site)] = figures
        return pairs


def ingest(client, site_map, window_seconds, now, settings=None):
    """Read the archive and aggregate: returns (pairs, stats)."""
    aggregator = PairAggregator(site_map)
    aggregator.add_all(client.samples(window_seconds, now))
    cfg = dict(settings or {})
    cfg["window_seconds"] = window_seconds
    pairs = aggregator.summary(now, cfg)
    stats = {
        "samples_seen": aggregator.samples_seen,
        "samples_used": aggregator.samples_used,
        "unmapped_hosts": sorted(aggregator.unmapped_hosts),
        "archive_requests": client.requests,
        "vanished_measurements": len(getattr(client, "vanished", [])),
        "skipped_udp_throughput": getattr(client, "skipped_udp", 0),
        "unreadable_timestamps": getattr(client, "unreadable_timestamps", 0),
        "site_pairs_with_data": len(pairs),
    }
    return pairs, stats


def pairs_as_list(pairs):
    """JSON-friendly list of pair figures, sorted, for module results and caches."""
    out = []
    for (source_site, destination_site) in sorted(pairs):
        row = {"source_site": source_site, "destination_site": destination_site}
        row.update(pairs[(source_site, destination_site)])
        out.append(row)
    return out


def pairs_from_list(rows):
    pairs = {}
    for row in rows:
        figures = dict((k, v) for k, v in row.items() if k not in ("source_site", "destination_site"))
        pairs[(row["source_site"], row["destination_site"])] = figures
    return pairs


# --------------------------------------------------------------------------------------------
# Publication into the startd ad, and schedd throttles.
# --------------------------------------------------------------------------------------------

def _classad_number(value):
    return repr(float(value)) if value is not None else "undefined"


def _classad_string(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def startd_attributes(pairs, local_site, sites, now, local_mbps=None, status="ok", submit_site_attr="BSaaSSubmitSite"):
    """Ordered (name, ClassAd expression text) pairs for the startd ad of an execute node at local_site.

    Per remote site S: PerfSONAR_InMbps_S (S -> here, input sandboxes), PerfSONAR_OutMbps_S (here -> S,
    output sandboxes), PerfSONAR_OwDelayInMs_S and PerfSONAR_OwDelayOutMs_S (one-way delay in ms),
    PerfSONAR_RttMs_S, PerfSONAR_LossRate_S, PerfSONAR_AgeSeconds_S and
    PerfSONAR_Origin_S. PerfSONAR_SubmitSiteInMbps selects the figure for the job's submit site.
    """
    attrs = [
        (ATTRIBUTE_PREFIX + "Site", _classad_string(local_site)),
        (ATTRIBUTE_PREFIX + "Updated", str(int(now))),
        (ATTRIBUTE_PREFIX + "Status", _classad_string(status)),
    ]
    measured_sites = []
    for site in sites:
        suffix = site_attribute_suffix(site)
        if site == local_site:
            if local_mbps is not None:
                attrs.append((ATTRIBUTE_PREFIX + "InMbps_" + suffix, _classad_number(local_mbps)))
                attrs.append((ATTRIBUTE_PREFIX + "OutMbps_" + suffix, _classad_number(local_mbps)))
                measured_sites.append(site)
            continue
        inbound = pairs.get((site, local_site), {})
        outbound = pairs.get((local_site, site), {})
        if METRIC_THROUGHPUT in inbound:
            attrs.append((ATTRIBUTE_PREFIX + "InMbps_" + suffix, _classad_number(inbound[METRIC_THROUGHPUT]["value"])))
            measured_sites.append(site)
            age = inbound[METRIC_THROUGHPUT]["age_seconds"]
            if age is not None:
                attrs.append((ATTRIBUTE_PREFIX + "AgeSeconds_" + suffix, str(int(age))))
            attrs.append((ATTRIBUTE_PREFIX + "Origin_" + suffix,
                          _classad_string(inbound[METRIC_THROUGHPUT]["origin"])))
        if METRIC_THROUGHPUT in outbound:
            attrs.append((ATTRIBUTE_PREFIX + "OutMbps_" + suffix, _classad_number(outbound[METRIC_THROUGHPUT]["value"])))
        if METRIC_OWDELAY in inbound:
            attrs.append((ATTRIBUTE_PREFIX + "OwDelayInMs_" + suffix, _classad_number(inbound[METRIC_OWDELAY]["value"])))
        if METRIC_OWDELAY in outbound:
            attrs.append((ATTRIBUTE_PREFIX + "OwDelayOutMs_" + suffix,
                          _classad_number(outbound[METRIC_OWDELAY]["value"])))
        for metric, name in ((METRIC_RTT, "RttMs_"), (METRIC_LOSS, "LossRate_")):
            figure = inbound.get(metric) or outbound.get(metric)
            if figure is not None:
                attrs.append((ATTRIBUTE_PREFIX + name + suffix, _classad_number(figure["value"])))
    # Select the figure for the job's submit site; UNDEFINED when nothing is known about that site.
    selector = "undefined"
    for site in reversed(measured_sites):
        selector = "ifThenElse(TARGET.{0} =?= {1}, {2}, {3})".format(
            submit_site_attr, _classad_string(site), ATTRIBUTE_PREFIX + "InMbps_" + site_attribute_suffix(site),
            selector)
    attrs.append((ATTRIBUTE_PREFIX + "SubmitSiteInMbps", selector))
    return attrs


def render_startd_cron_output(attrs):
    """STARTD_CRON output: one 'Attr = value' line each; a lone '-' ends the ad."""
    return "".join("{0} = {1}\n".format(name, value) for name, value in attrs) + "-\n"


def transfer_throttles(pairs, local_site, per_transfer_mbps, minimum=2, maximum=100, step=1):
    """MAX_CONCURRENT_UPLOADS/DOWNLOADS for a schedd at local_site from measured bandwidth.

    Uploads (input sandboxes leave the schedd) are sized from the best measured path out of the site, which
    bounds the schedd's uplink; downloads from the best path in. None when nothing was measured.
    """
    outbound = [f[METRIC_THROUGHPUT]["value"] for (src, dst), f in pairs.items()
                if src == local_site and METRIC_THROUGHPUT in f]
    inbound = [f[METRIC_THROUGHPUT]["value"] for (src, dst), f in pairs.items()
               if dst == local_site and METRIC_THROUGHPUT in f]

    def size(mbps_list):
        if not mbps_list:
            return None
        count = int(max(mbps_list) // float(per_transfer_mbps))
        count = max(minimum, min(maximum, count))
        return max(minimum, count - count % step) if step > 1 else count

    return {"MAX_CONCURRENT_UPLOADS": size(outbound), "MAX_CONCURRENT_DOWNLOADS": size(inbound)}


# --------------------------------------------------------------------------------------------
# The STARTD_CRON run: archive -> figures -> ad, with a cache for when the archive is down.
# --------------------------------------------------------------------------------------------

CRON_REQUIRED = ("archive_type", "archive_url", "sites")


def make_client(config, transport):
    kind = config.get("archive_type")
    timeout = config.get("timeout", 30)
    if kind == "esmond":
        return EsmondClient(config["archive_url"], transport, page_size=config.get("page_size", 1000),
                            timeout=timeout)
    if kind == "opensearch":
        return OpenSearchClient(config["archive_url"], transport, index=config.get("index", "pscheduler_*"),
                                page_size=config.get("page_size", 5000), timeout=timeout)
    raise ConfigError("archive_type must be 'esmond' or 'opensearch', not {0!r}".format(kind))


def aggregation_settings(config):
    return {
        "max_age_seconds": int(config.get("max_age_seconds", DEFAULT_SETTINGS["max_age_seconds"])),
        "min_samples": int(config.get("min_samples", DEFAULT_SETTINGS["min_samples"])),
        "use_reverse_direction": bool(config.get("use_reverse_direction", True)),
        "fallback": {
            METRIC_THROUGHPUT: config.get("fallback_mbps"),
            METRIC_RTT: config.get("fallback_rtt_ms"),
            METRIC_LOSS: config.get("fallback_loss_rate"),
        },
    }


def read_figures(config, transport, now):
    """(site_map, pairs, figures_time, status) from the archive, or from the last good figures when it fails.

    When the archive fails, the last good figures (cache_path) are used while younger than
    cache_max_age_seconds, with a status naming the failure; older than that, no figures at all, so the policy
    treats every site as unmeasured instead of trusting old numbers.
    """
    missing = [key for key in CRON_REQUIRED if not config.get(key)]
    if missing:
        raise ConfigError("perfSONAR ingest configuration lacks {0}".format(", ".join(missing)))
    site_map = SiteMap(config["sites"])
    local_site = config.get("local_site")
    if local_site and local_site not in site_map.sites:
        raise ConfigError("local_site {0!r} is not one of the sites {1}".format(local_site, site_map.sites))
    window = int(config.get("window_seconds", DEFAULT_SETTINGS["window_seconds"]))
    cache_path = config.get("cache_path")
    status = "ok"
    try:
        client = make_client(config, transport)
        pairs, _stats = ingest(client, site_map, window, now, aggregation_settings(config))
        if cache_path:
            _write_cache(cache_path, {"time": now, "pairs": pairs_as_list(pairs)})
        figures_time = now
    except ArchiveError as err:
        cached = _read_cache(cache_path) if cache_path else None
        max_cache_age = int(config.get("cache_max_age_seconds", 6 * 3600))
        if cached is not None and now - cached["time"] <= max_cache_age:
            pairs = pairs_from_list(cached["pairs"])
            figures_time = cached["time"]
            status = "cached: {0}".format(err)
        else:
            pairs = {}
            figures_time = now
            status = "no data: {0}".format(err)
    return site_map, pairs, figures_time, status[:500]


def run_cron(config, transport, now=None, query=None):
    """One STARTD_CRON run; returns the text to print. Never raises for archive or collector trouble.

    source "archive" (the default) reads the archive itself; source "collector" takes this site's figures from
    the ad the central manager's publisher keeps in the collector (see run_cron_collector), through ``query``.
    """
    now = time.time() if now is None else now
    if config.get("source") == "collector":
        return run_cron_collector(config, query, now)
    missing = [key for key in CRON_REQUIRED + ("local_site",) if not config.get(key)]
    if missing:
        raise ConfigError("perfSONAR ingest configuration lacks {0}".format(", ".join(missing)))
    site_map, pairs, figures_time, status = read_figures(config, transport, now)
    attrs = startd_attributes(pairs, config["local_site"], site_map.sites, figures_time,
                              local_mbps=config.get("local_mbps"), status=status,
                              submit_site_attr=config.get("submit_site_attribute", "BSaaSSubmitSite"))
    return render_startd_cron_output(attrs)


# --------------------------------------------------------------------------------------------
# One archive read for the whole pool: the central manager publishes one ad per site in the collector,
# every execute node copies its site's figures from there. The archive's load per period is one read,
# whatever the number of execute nodes.
# --------------------------------------------------------------------------------------------

SITE_AD_TYPE = "BSaaSPerfSONAR"


def site_ad_constraint(site):
    """The collector constraint that selects the published figures of one site."""
    return "MyType == {0} && {1}Site == {2}".format(_classad_string(SITE_AD_TYPE), ATTRIBUTE_PREFIX,
                                                   _classad_string(site))


def site_ads(config, transport, now=None):
    """(ads, status, site_count): one generic ad per site, holding the PerfSONAR_* attributes of its startds.

    Each ad is a list of (name, expression text) with MyType, Name and ClassAdLifetime first; the collector
    drops an ad its publisher stopped refreshing after ClassAdLifetime seconds (cache_max_age_seconds).
    """
    now = time.time() if now is None else now
    site_map, pairs, figures_time, status = read_figures(config, transport, now)
    pool = config.get("pool_name") or "pool"
    lifetime = int(config.get("cache_max_age_seconds", 6 * 3600))
    submit_attr = config.get("submit_site_attribute", "BSaaSSubmitSite")
    local_mbps = config.get("local_mbps")
    index = _pairs_by_site(pairs)
    ads = []
    for site in site_map.sites:
        head = [("MyType", _classad_string(SITE_AD_TYPE)),
                ("Name", _classad_string("perfsonar-{0}@{1}".format(site, pool))),
                ("ClassAdLifetime", str(lifetime))]
        ads.append(head + startd_attributes(index.get(site, {}), site, site_map.sites, figures_time,
                                            local_mbps=local_mbps, status=status, submit_site_attr=submit_attr))
    return ads, status, len(site_map.sites)


def _pairs_by_site(pairs):
    """The pairs each site's attributes read (into or out of it), so 100 sites do not scan 9,900 pairs each."""
    index = {}
    for key, figures in pairs.items():
        for site in key:
            index.setdefault(site, {})[key] = figures
    return index


def render_advertise_input(ads):
    """condor_advertise -multiple input: one 'Attr = value' line each, ads separated by a blank line."""
    return "\n".join("".join("{0} = {1}\n".format(name, value) for name, value in ad) for ad in ads)


def parse_long_ads(text):
    """Ads of ``condor_status -long`` output as lists of (name, expression text), in their order."""
    ads = []
    current = []
    for line in text.splitlines():
        if not line.strip():
            if current:
                ads.append(current)
                current = []
            continue
        name, sep, value = line.partition(" = ")
        if sep:
            current.append((name.strip(), value.strip()))
    if current:
        ads.append(current)
    return ads


def run_cron_collector(config, query, now=None):
    """STARTD_CRON output from this site's ad in the collector; the archive is never read here.

    ``query(constraint)`` returns ``condor_status -long`` text or raises ArchiveError. When the collector has no
    ad for the site or cannot be asked, the last figures taken (cache_path) are published while their
    PerfSONAR_Updated is younger than cache_max_age_seconds, with PerfSONAR_Status naming the failure; then only
    the site and the status.
    """
    now = time.time() if now is None else now
    local_site = config.get("local_site")
    if not local_site:
        raise ConfigError("perfSONAR ingest configuration lacks local_site")
    if query is None:
        raise ConfigError("source collector needs a collector query")
    cache_path = config.get("cache_path")
    try:
        ads = parse_long_ads(query(site_ad_constraint(local_site)))
        if not ads:
            raise ArchiveError("the collector holds no perfSONAR figures for site {0}; check the publisher on the "
                               "central manager (systemctl status bsaas-perfsonar-publish.service)".format(local_site))
        attrs = [(name, value) for name, value in ads[0] if name.startswith(ATTRIBUTE_PREFIX)]
        if cache_path:
            _write_cache(cache_path, {"time": now, "attrs": attrs})
    except ArchiveError as err:
        cached = _read_cache(cache_path, "attrs") if cache_path else None
        max_cache_age = int(config.get("cache_max_age_seconds", 6 * 3600))
        attrs = None
        if cached is not None:
            figures = [(name, value) for name, value in cached["attrs"]]
            updated = dict(figures).get(ATTRIBUTE_PREFIX + "Updated")
            try:
                fresh = updated is not None and now - float(updated) <= max_cache_age
            except ValueError:
                fresh = False
            if fresh:
                attrs = [(name, _classad_string("cached: {0}".format(err)[:500])
                          if name == ATTRIBUTE_PREFIX + "Status" else value) for name, value in figures]
        if attrs is None:
            attrs = [(ATTRIBUTE_PREFIX + "Site", _classad_string(local_site)),
                     (ATTRIBUTE_PREFIX + "Updated", str(int(now))),
                     (ATTRIBUTE_PREFIX + "Status", _classad_string("no data: {0}".format(err)[:500])),
                     (ATTRIBUTE_PREFIX + "SubmitSiteInMbps", "undefined")]
    return render_startd_cron_output(attrs)


def _write_cache(path, content):
    directory = os.path.dirname(path) or "."
    handle, tmp = tempfile.mkstemp(prefix=".perfsonar-cache.", dir=directory)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(content, stream)
        os.rename(tmp, path)  # atomic, so a concurrent run never reads half a cache
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_cache(path, key="pairs"):
    try:
        with open(path) as stream:
            content = json.load(stream)
        if isinstance(content, dict) and "time" in content and key in content:
            return content
    except (IOError, OSError, ValueError):
        return None
    return None
