#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: perfsonar_ingest
short_description: Read a perfSONAR archive and return network figures per site pair
version_added: "0.1.0"
description:
  - Reads throughput, round-trip time, one-way delay and packet loss from a perfSONAR measurement archive, either the
    esmond REST API (perfSONAR 4, still served by perfSONAR 5) or the perfSONAR 5 OpenSearch archive
    (C(pscheduler_*) indices), maps every measurement host to a site by CIDR, and aggregates per ordered
    site pair over a time window.
  - Returns the figures, the startd ClassAd attributes that the C(perfsonar_ingest) role's STARTD_CRON job
    publishes for an execute node at O(local_site), and schedd transfer throttles sized from the measured
    bandwidth. It runs the same code as that STARTD_CRON job, on demand.
  - Read-only. It never changes anything, so check mode behaves exactly like a normal run.
  - "UDP throughput tests are left out: they report their offered rate, not the path's capacity."
  - "Aggregation: throughput, RTT and one-way delay are medians, loss is a mean. A direction whose newest sample is older
    than O(max_age_seconds) counts as missing; a missing direction takes the fresh figure of the reverse
    direction (O(use_reverse_direction)); a missing RTT is the sum of both directions' one-way delays, when both
    are measured; then the configured fallback, else it is left out."
author:
  - htcfarm.bsaas maintainers (@htcfarm)
options:
  archive_type:
    description: Which archive generation O(archive_url) points at.
    type: str
    required: true
    choices: [esmond, opensearch]
  archive_url:
    description:
      - For C(esmond), the archive root, for example C(https://ps.example.org/esmond/perfsonar/archive/).
      - For C(opensearch), the OpenSearch endpoint, for example C(https://ps.example.org:9200).
    type: str
    required: true
  index:
    description: OpenSearch index pattern of the pScheduler results.
    type: str
    default: pscheduler_*
  validate_certs:
    description: Verify the archive's TLS certificate. Only turn this off for a throw-away test archive.
    type: bool
    default: true
  ca_path:
    description: CA bundle that signed the archive's certificate, when it is not in the system store.
    type: path
  url_username:
    description: User for HTTP basic authentication (OpenSearch security plugin or a proxy in front of esmond).
    type: str
  url_password:
    description: Password for O(url_username).
    type: str
  timeout:
    description: Seconds to wait for each archive request.
    type: float
    default: 30
  page_size:
    description: Rows per request (esmond C(limit)) or documents per scroll page (OpenSearch).
    type: int
  sites:
    description:
      - Site name to the list of CIDRs holding that site's perfSONAR hosts. The most specific prefix wins.
      - Site names start with a letter and use letters, digits, C(_) or C(-); C(-) becomes C(_) in ClassAd
        attribute names.
    type: dict
    required: true
  local_site:
    description: Site whose execute-node attributes and schedd throttles to return. Must be a key of O(sites).
    type: str
  window_seconds:
    description: How far back to read samples.
    type: int
    default: 604800
  max_age_seconds:
    description: A direction whose newest sample is older than this is treated as not measured.
    type: int
    default: 172800
  min_samples:
    description: Fewest samples a direction needs to be used.
    type: int
    default: 1
  use_reverse_direction:
    description: Use the reverse direction's fresh figure when a direction has none.
    type: bool
    default: true
  fallback_mbps:
    description: Throughput (Mbit/s) assumed for a site pair with no usable measurement. Unset leaves it undefined.
    type: float
  fallback_rtt_ms:
    description: RTT (ms) assumed for a site pair with no usable measurement.
    type: float
  fallback_loss_rate:
    description: Loss fraction assumed for a site pair with no usable measurement.
    type: float
  local_mbps:
    description: Bandwidth (Mbit/s) published for transfers inside O(local_site), which perfSONAR meshes do not measure.
    type: float
  submit_site_attribute:
    description: Job attribute that names the job's submit site; the startd selector reads it from the job.
    type: str
    default: BSaaSSubmitSite
  per_transfer_mbps:
    description: Bandwidth each concurrent sandbox transfer should get; throttles are measured bandwidth divided by it.
    type: float
    default: 100
  throttle_min:
    description: Lowest MAX_CONCURRENT_UPLOADS/DOWNLOADS returned.
    type: int
    default: 2
  throttle_max:
    description: Highest MAX_CONCURRENT_UPLOADS/DOWNLOADS returned.
    type: int
    default: 100
  throttle_step:
    description: Throttles are rounded down to a multiple of this, so small bandwidth changes do not rewrite config.
    type: int
    default: 5
notes:
  - Uses Ansible's C(open_url); the STARTD_CRON job uses the standard library on the same code.
  - Uses C(netaddr) for CIDR matching when installed, else Python's C(ipaddress).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Read last week's mesh from the perfSONAR 5 archive, as seen from Bari
  htcfarm.bsaas.perfsonar_ingest:
    archive_type: opensearch
    archive_url: https://ps-archive.example.org:9200
    ca_path: /etc/pki/tls/certs/ps-archive-ca.pem
    url_username: bsaas-reader
    url_password: "{{ vault_perfsonar_password }}"
    sites:
      torino: [192.0.2.0/26]
      bologna: [198.51.100.0/24]
      bari: [203.0.113.0/24]
    local_site: bari
  register: network
  no_log: true

- name: Legacy esmond archive, figures only
  htcfarm.bsaas.perfsonar_ingest:
    archive_type: esmond
    archive_url: https://ps.example.org/esmond/perfsonar/archive/
    sites: "{{ perfsonar_ingest_sites }}"
    window_seconds: 86400
"""

RETURN = r"""
pairs:
  description: Figures per ordered site pair. Each metric has value, age_seconds, samples and origin
    (measured, reverse, one-way or fallback).
  returned: always
  type: list
  elements: dict
  sample:
    - source_site: torino
      destination_site: bari
      throughput_mbps: {value: 400.0, age_seconds: 14400, samples: 5, origin: measured}
      rtt_ms: {value: 14.0, age_seconds: 3600, samples: 10, origin: measured}
      owdelay_ms: {value: 7.1, age_seconds: 600, samples: 140, origin: measured}
      loss_rate: {value: 0.02, age_seconds: 3600, samples: 5, origin: measured}
stats:
  description: Samples read and used, hosts outside every site's CIDRs, archive requests made, esmond measurements
    listed but deleted before their data could be read, UDP throughput measurements (esmond) or runs (OpenSearch)
    skipped, samples whose time could not be read.
  returned: always
  type: dict
  sample: {samples_seen: 60, samples_used: 60, unmapped_hosts: [], archive_requests: 2, site_pairs_with_data: 6,
           vanished_measurements: 0, skipped_udp_throughput: 0, unreadable_timestamps: 0}
startd_attributes:
  description: Attribute name to ClassAd expression, as the STARTD_CRON job publishes them at O(local_site).
  returned: when local_site is set
  type: dict
  sample: {PerfSONAR_Site: '"bari"', PerfSONAR_InMbps_torino: "400.0"}
startd_cron_output:
  description: The exact STARTD_CRON output for O(local_site).
  returned: when local_site is set
  type: str
throttles:
  description: MAX_CONCURRENT_UPLOADS and MAX_CONCURRENT_DOWNLOADS for a schedd at O(local_site); null when that
    direction was never measured.
  returned: when local_site is set
  type: dict
  sample: {MAX_CONCURRENT_UPLOADS: 5, MAX_CONCURRENT_DOWNLOADS: 5}
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.htcfarm.bsaas.plugins.module_utils import perfsonar


def main():
    module = AnsibleModule(
        argument_spec=dict(
            archive_type=dict(type="str", required=True, choices=["esmond", "opensearch"]),
            archive_url=dict(type="str", required=True),
            index=dict(type="str", default="pscheduler_*"),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            url_username=dict(type="str"),
            url_password=dict(type="str", no_log=True),
            timeout=dict(type="float", default=30),
            page_size=dict(type="int"),
            sites=dict(type="dict", required=True),
            local_site=dict(type="str"),
            window_seconds=dict(type="int", default=604800),
            max_age_seconds=dict(type="int", default=172800),
            min_samples=dict(type="int", default=1),
            use_reverse_direction=dict(type="bool", default=True),
            fallback_mbps=dict(type="float"),
            fallback_rtt_ms=dict(type="float"),
            fallback_loss_rate=dict(type="float"),
            local_mbps=dict(type="float"),
            submit_site_attribute=dict(type="str", default="BSaaSSubmitSite"),
            per_transfer_mbps=dict(type="float", default=100),
            throttle_min=dict(type="int", default=2),
            throttle_max=dict(type="int", default=100),
            throttle_step=dict(type="int", default=5),
        ),
        required_together=[["url_username", "url_password"]],
        supports_check_mode=True,
    )
    params = module.params
    if params["window_seconds"] <= 0 or params["max_age_seconds"] <= 0:
        module.fail_json(msg="window_seconds and max_age_seconds must be positive numbers of seconds")
    if params["per_transfer_mbps"] <= 0 or not 1 <= params["throttle_min"] <= params["throttle_max"]:
        module.fail_json(msg="per_transfer_mbps must be positive and 1 <= throttle_min <= throttle_max")

    config = dict((key, value) for key, value in params.items() if value is not None)
    now = time.time()
    try:
        site_map = perfsonar.SiteMap(params["sites"])
        if params["local_site"] and params["local_site"] not in site_map.sites:
            module.fail_json(msg="local_site {0!r} is not a key of sites ({1}); add it to sites or fix the "
                                 "name".format(params["local_site"], ", ".join(site_map.sites)))
        transport = perfsonar.open_url_transport(
            validate_certs=params["validate_certs"], ca_path=params["ca_path"],
            username=params["url_username"], password=params["url_password"])
        client = perfsonar.make_client(config, transport)
        pairs, stats = perfsonar.ingest(client, site_map, params["window_seconds"], now,
                                        perfsonar.aggregation_settings(config))
    except (perfsonar.ConfigError, perfsonar.ArchiveError) as err:
        module.fail_json(msg=str(err))

    result = dict(changed=False, pairs=perfsonar.pairs_as_list(pairs), stats=stats)
    if params["local_site"]:
        attrs = perfsonar.startd_attributes(pairs, params["local_site"], site_map.sites, now,
                                            local_mbps=params["local_mbps"],
                                            submit_site_attr=params["submit_site_attribute"])
        result["startd_attributes"] = dict(attrs)
        result["startd_cron_output"] = perfsonar.render_startd_cron_output(attrs)
        result["throttles"] = perfsonar.transfer_throttles(
            pairs, params["local_site"], params["per_transfer_mbps"], minimum=params["throttle_min"],
            maximum=params["throttle_max"], step=params["throttle_step"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
