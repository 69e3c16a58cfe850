# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""STARTD_CRON job: print this execute node's perfSONAR figures as startd ad attributes.

Installed by the htcfarm.bsaas perfsonar_ingest role next to perfsonar.py, which is the collection's
plugins/module_utils/perfsonar.py copied unchanged. Standard library only (Python 3.6+).
With "source": "collector" (what site.yml deploys) it copies its site's figures from the ad the central
manager's publisher keeps in the collector, with condor_status; with "source": "archive" it reads the
archive itself. Exit codes: 0 ad printed (trouble is reported in PerfSONAR_Status), 2 bad configuration.
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import perfsonar  # noqa: E402  (installed beside this script)


def collector_query(config):
    """condor_status -long of the ads matching a constraint, as text; ArchiveError when it cannot ask."""
    command = config.get("condor_status") or "condor_status"
    timeout = float(config.get("timeout", 30))

    def query(constraint):
        try:
            done = subprocess.run([command, "-any", "-constraint", constraint, "-long"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise perfsonar.ArchiveError("cannot query the collector with {0}: {1}".format(command, err))
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise perfsonar.ArchiveError("{0} failed ({1}): {2}".format(
                command, done.returncode, detail[-1] if detail else "no message"))
        return done.stdout.decode("utf-8", "replace")

    return query


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON settings written by the perfsonar_ingest role")
    options = parser.parse_args(argv)
    try:
        with open(options.config) as stream:
            config = json.load(stream)
        transport = None
        if config.get("source") != "collector":
            transport = perfsonar.urllib_transport(
                validate_certs=config.get("validate_certs", True), ca_path=config.get("ca_path"),
                username=config.get("username"), password=config.get("password"))
        text = perfsonar.run_cron(config, transport, query=collector_query(config))
    except (IOError, OSError, ValueError, perfsonar.ConfigError) as err:
        # startd logs stderr; printing no ad keeps the previous attributes out of a half-written state
        sys.stderr.write("perfsonar_ingest: {0}: {1}\n".format(options.config, err))
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
