# -*- coding: utf-8 -*-
# Copyright: htcfarm.bsaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Publisher on the central manager: read the perfSONAR archive once, advertise one ad per site.

Run by the bsaas-perfsonar-publish systemd timer as HTCondor's user (the collector takes its generic ads
through FS authentication on the same host). Execute nodes copy their site's PerfSONAR_* attributes from
these ads in their STARTD_CRON job, so the archive is read once per period for the whole pool.
Installed beside perfsonar.py (the collection's plugins/module_utils/perfsonar.py, unchanged); standard
library only (Python 3.6+). Exit codes: 0 published, 1 condor_advertise failed, 2 bad configuration.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import perfsonar  # noqa: E402  (installed beside this script)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON settings written by the perfsonar_ingest role")
    parser.add_argument("--print", action="store_true", help="print the ads instead of advertising them")
    options = parser.parse_args(argv)
    try:
        with open(options.config) as stream:
            config = json.load(stream)
        transport = perfsonar.urllib_transport(
            validate_certs=config.get("validate_certs", True), ca_path=config.get("ca_path"),
            username=config.get("username"), password=config.get("password"))
        ads, status, sites = perfsonar.site_ads(config, transport)
    except (IOError, OSError, ValueError, perfsonar.ConfigError) as err:
        sys.stderr.write("perfsonar_ingest publisher: {0}: {1}\n".format(options.config, err))
        return 2
    text = perfsonar.render_advertise_input(ads)
    if options.print:
        sys.stdout.write(text)
        return 0
    directory = os.path.dirname(config.get("cache_path") or "") or None
    handle, path = tempfile.mkstemp(prefix=".perfsonar-ads.", dir=directory)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        command = [config.get("condor_advertise") or "condor_advertise", "-multiple", "UPDATE_AD_GENERIC", path]
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                              timeout=float(config.get("timeout", 30)) * 4)
        returncode, output = done.returncode, done.stdout.decode("utf-8", "replace").strip()
    except (OSError, subprocess.TimeoutExpired) as err:
        returncode, output = None, str(err)
    finally:
        os.unlink(path)
    if returncode != 0:
        sys.stderr.write("perfsonar_ingest publisher: condor_advertise failed ({0}): {1}; check that HTCondor's "
                         "tools are installed and the collector on this host runs\n".format(returncode, output))
        return 1
    sys.stdout.write("perfsonar_ingest publisher: {0} site ads advertised (figures: {1})\n".format(sites, status))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
