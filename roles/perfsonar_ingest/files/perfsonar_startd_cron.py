# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""STARTD_CRON job: print this execute node's perfSONAR figures as startd ad attributes.

Installed by the htcfarm.bsaas perfsonar_ingest role next to perfsonar.py, which is the collection's
plugins/module_utils/perfsonar.py copied unchanged. Standard library only (Python 3.6+).
Exit codes: 0 ad printed (archive trouble is reported in PerfSONAR_Status), 2 bad configuration.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import perfsonar  # noqa: E402  (installed beside this script)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON settings written by the perfsonar_ingest role")
    options = parser.parse_args(argv)
    try:
        with open(options.config) as stream:
            config = json.load(stream)
        transport = perfsonar.urllib_transport(
            validate_certs=config.get("validate_certs", True), ca_path=config.get("ca_path"),
            username=config.get("username"), password=config.get("password"))
        text = perfsonar.run_cron(config, transport)
    except (IOError, OSError, ValueError, perfsonar.ConfigError) as err:
        # startd logs stderr; printing no ad keeps the previous attributes out of a half-written state
        sys.stderr.write("perfsonar_ingest: {0}: {1}\n".format(options.config, err))
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
