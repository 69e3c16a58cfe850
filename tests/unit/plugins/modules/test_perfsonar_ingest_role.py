# -*- coding: utf-8 -*-
"""The perfsonar_ingest role, converged for real on this host into a scratch tree, then its output proven.

The role runs twice with ansible-playbook (second run must change nothing), writing HTCondor fragments that
HTCondor's own parser (htcondor2) reads back; the STARTD_CRON job it installed runs against a loopback archive
and classad2 parses its ad; the policy expressions then decide matches between realistic job and slot ads.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from ansible_collections.htcfarm.bsaas.tests.unit.plugins.module_utils.fixtures.perfsonar.archive_server import (
    Measurement, start_archive, stop_archive)

htcondor2 = pytest.importorskip("htcondor2", reason="HTCondor's htcondor2 bindings (htcondor 24+ wheel) missing")
classad2 = pytest.importorskip("classad2", reason="HTCondor's classad2 bindings (htcondor 24+ wheel) missing")

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
SITES = {"torino": ["10.1.0.0/16"], "bologna": ["10.2.0.0/16"], "bari": ["10.3.0.0/16"]}
HOSTS = {"torino": "10.1.0.10", "bologna": "10.2.0.10", "bari": "10.3.0.10"}
# Mbit/s; bari is behind a thin link
LINKS = {("torino", "bologna"): 9000.0, ("bologna", "torino"): 8000.0, ("torino", "bari"): 400.0,
         ("bari", "torino"): 300.0, ("bologna", "bari"): 500.0, ("bari", "bologna"): 450.0}
GIB = 1024  # TransferInputSizeMB is in MiB


def ansible_playbook():
    path = shutil.which("ansible-playbook") or os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.path.exists(path):
        pytest.skip("ansible-playbook not installed in this interpreter's environment")
    version = subprocess.run([path, "--version"], stdout=subprocess.PIPE, universal_newlines=True, check=False).stdout
    if not re.search(r"core 2\.(1[6-9]|[2-9]\d)", version):
        pytest.skip("the role needs ansible-core 2.16 or later (found: {0})".format(version.splitlines()[0]))
    return path


@pytest.fixture(scope="module")
def archive():
    now = time.time()
    data = []
    for (src, dst), mbps in LINKS.items():
        for hours in (3, 9, 15):
            data.append(Measurement(HOSTS[src], HOSTS[dst], "throughput", now - hours * 3600, throughput_bps=mbps * 1e6))
            data.append(Measurement(HOSTS[src], HOSTS[dst], "rtt", now - hours * 3600, rtt_ms=10.0, loss=0.0))
    server = start_archive(data)
    yield server
    stop_archive(server)


@pytest.fixture(scope="module")
def converged(archive, tmp_path_factory):
    """Converge the role twice into a scratch tree; returns paths and both recaps."""
    playbook_cmd = ansible_playbook()
    root = tmp_path_factory.mktemp("perfsonar-role")
    config_dir = root / "config.d"
    config_dir.mkdir()
    root_config = root / "condor_config"
    root_config.write_text("LOCAL_DIR = {0}\nLOCAL_CONFIG_DIR = {1}\nuse ROLE: CentralManager\nuse ROLE: Submit\n"
                           "use ROLE: Execute\n".format(root / "local", config_dir))
    import grp
    import pwd
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    variables = {
        "perfsonar_ingest_archive_type": "opensearch",
        "perfsonar_ingest_archive_url": archive.base_url,
        "perfsonar_ingest_sites": SITES,
        "perfsonar_ingest_local_site": "torino",
        "perfsonar_ingest_daemons": ["execute", "submit", "negotiator"],
        "perfsonar_ingest_python": sys.executable,
        "perfsonar_ingest_install_dir": str(root / "libexec"),
        "perfsonar_ingest_config_path": str(root / "etc" / "perfsonar_ingest.json"),
        "perfsonar_ingest_state_dir": str(root / "state"),
        "perfsonar_ingest_condor_user": user,
        "perfsonar_ingest_condor_group": group,
        "perfsonar_ingest_condor_config_dir": str(config_dir),
        "perfsonar_ingest_condor_root_config": str(root_config),
        "perfsonar_ingest_condor_apply": "none",
        "perfsonar_ingest_max_transfer_seconds": 1800,
    }
    (root / "vars.json").write_text(json.dumps(variables))
    (root / "play.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: htcfarm.bsaas.perfsonar_ingest\n")
    (root / "inventory").write_text("localhost ansible_connection=local ansible_python_interpreter={0}\n".format(
        sys.executable))
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".cache", "collections")})
    recaps = []
    for _run in range(2):
        result = subprocess.run([playbook_cmd, "-i", str(root / "inventory"), "-e", "@" + str(root / "vars.json"),
                                 str(root / "play.yml")], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, universal_newlines=True, timeout=300, check=False)
        assert result.returncode == 0, result.stdout[-4000:]
        recap = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                          result.stdout)
        recaps.append(dict(zip(("ok", "changed", "unreachable", "failed"), map(int, recap.groups()))))
    return {"root": root, "root_config": root_config, "config_dir": config_dir, "recaps": recaps}


def test_second_converge_changes_nothing(converged):
    first, second = converged["recaps"]
    assert first["changed"] >= 8 and first["failed"] == 0
    assert second["changed"] == 0 and second["failed"] == 0


def test_settings_file_is_private_to_htcondor(converged):
    path = converged["root"] / "etc" / "perfsonar_ingest.json"
    assert oct(os.stat(str(path)).st_mode & 0o777) == "0o640"
    settings = json.loads(path.read_text())
    assert settings["local_site"] == "torino" and settings["validate_certs"] is True


@pytest.fixture(scope="module")
def condor_param(converged):
    old = os.environ.get("CONDOR_CONFIG")
    os.environ["CONDOR_CONFIG"] = str(converged["root_config"])
    htcondor2.reload_config()
    yield htcondor2.param
    if old is None:
        os.environ.pop("CONDOR_CONFIG", None)
    else:
        os.environ["CONDOR_CONFIG"] = old
    htcondor2.reload_config()


def test_htcondor_reads_the_cron_job_throttles_and_site_tag(converged, condor_param):
    assert condor_param["STARTD_CRON_JOBLIST"].split()[-1] == "PERFSONAR"
    assert condor_param["STARTD_CRON_PERFSONAR_EXECUTABLE"] == sys.executable
    assert str(condor_param["STARTD_CRON_PERFSONAR_MODE"]) == "Periodic"
    assert condor_param["BSaaSSubmitSite"] == '"torino"'
    assert "BSaaSSubmitSite" in condor_param["SUBMIT_ATTRS"].split()
    # measured: best path out of torino 9000 Mbit/s, in 8000; 100 Mbit/s per transfer, rounded down to 5
    assert str(condor_param["MAX_CONCURRENT_UPLOADS"]) == "90"
    assert str(condor_param["MAX_CONCURRENT_DOWNLOADS"]) == "80"


def run_installed_cron(converged, local_site):
    """The job exactly as the startd runs it, for an execute node at local_site."""
    root = converged["root"]
    settings = json.loads((root / "etc" / "perfsonar_ingest.json").read_text())
    settings["local_site"] = local_site
    settings["cache_path"] = str(root / "state" / "figures-{0}.json".format(local_site))
    config = root / "etc" / "perfsonar_ingest-{0}.json".format(local_site)
    config.write_text(json.dumps(settings))
    result = subprocess.run([sys.executable, "-I", str(root / "libexec" / "perfsonar_startd_cron.py"),
                             "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def slot_ad(converged, condor_param, local_site, name):
    text = run_installed_cron(converged, local_site)
    ad = classad2.parseOne(text[:text.rindex("-\n")], classad2.ParserType.Old)
    ad["Name"] = name
    ad["Cpus"] = 8
    ad["Memory"] = 16000
    ad["Rank"] = 0
    ad["Start"] = classad2.ExprTree(condor_param["START"])
    ad["Requirements"] = classad2.ExprTree("START")
    return ad


def job_ad(condor_param, submit_site, input_mib):
    ad = classad2.ClassAd()
    ad["BSaaSSubmitSite"] = submit_site
    ad["TransferInputSizeMB"] = input_mib
    ad["RequestCpus"] = 1
    ad["Requirements"] = classad2.ExprTree("(TARGET.Cpus >= RequestCpus) && ({0})".format(
        condor_param["APPEND_REQUIREMENTS"]))
    ad["Rank"] = classad2.ExprTree(condor_param["APPEND_RANK"])
    return ad


@pytest.fixture(scope="module")
def slots(converged, condor_param):
    return dict((site, slot_ad(converged, condor_param, site, "slot1@wn.{0}".format(site)))
                for site in ("torino", "bologna", "bari"))


@pytest.mark.parametrize("submit_site,input_mib,slot_site,expected", [
    ("torino", 50, "bari", True),            # small sandbox: never refused
    ("torino", 50 * GIB, "bari", True),      # 50 GiB over 400 Mbit/s: 1074 s < 1800 s
    ("torino", 200 * GIB, "bari", False),    # 200 GiB over 400 Mbit/s: 4295 s, refused
    ("torino", 200 * GIB, "bologna", True),  # 200 GiB over 9000 Mbit/s: 191 s
    ("bari", 200 * GIB, "torino", False),    # bari's uplink is thin too (300 Mbit/s)
    ("bari", 200 * GIB, "bari", True),       # same site: no WAN transfer
    ("catania", 200 * GIB, "bari", True),    # unmeasured site: allowed by default (allow_unmeasured)
])
def test_policy_matches_and_refuses(condor_param, slots, submit_site, input_mib, slot_site, expected):
    job = job_ad(condor_param, submit_site, input_mib)
    slot = slots[slot_site]
    assert job.symmetricMatch(slot) is expected
    # both sides agree: the startd's START (what the negotiator enforces) and the job's appended requirements
    assert classad2.ExprTree("MY.Start").eval(slot, job) is expected
    assert classad2.ExprTree("MY.Requirements").eval(job, slot) is expected


def test_unmeasured_sites_can_be_refused(condor_param, slots):
    original = condor_param["BSAAS_NET_ALLOW_UNMEASURED"]
    condor_param["BSAAS_NET_ALLOW_UNMEASURED"] = "false"
    try:
        job = job_ad(condor_param, "catania", 200 * GIB)
        strict_start = classad2.ExprTree(condor_param["START"])
        assert strict_start.eval(slots["bari"], job) is False
        assert job_ad(condor_param, "catania", 50).symmetricMatch(slots["bari"]) is True
    finally:
        condor_param["BSAAS_NET_ALLOW_UNMEASURED"] = original


def test_negotiator_prefers_the_faster_path(condor_param, slots):
    job = job_ad(condor_param, "torino", 20 * GIB)
    pre_rank = classad2.ExprTree(condor_param["NEGOTIATOR_PRE_JOB_RANK"])
    # MY = slot, TARGET = job in the negotiator's pre-job rank
    bologna = pre_rank.eval(slots["bologna"], job)
    bari = pre_rank.eval(slots["bari"], job)
    torino = pre_rank.eval(slots["torino"], job)
    assert torino >= bologna > bari   # 17 s and 19 s (both 0 whole minutes) vs 429 s (7 minutes)
    job_rank = classad2.ExprTree("MY.Rank")
    assert job_rank.eval(job, slots["bologna"]) > job_rank.eval(job, slots["bari"])


@pytest.mark.parametrize("override,needle", [
    ({"perfsonar_ingest_sites": {"torino": ["10.1.0.0/33"]}}, "perfsonar_ingest_sites.torino holds '10.1.0.0/33'"),
    ({"perfsonar_ingest_archive_url": "ps-archive.example.org"}, "perfsonar_ingest_archive_url an http(s) URL"),
    ({"perfsonar_ingest_local_site": "catania"}, "perfsonar_ingest_local_site ('catania'"),
])
def test_wrong_input_fails_before_anything_changes(archive, tmp_path, override, needle):
    playbook_cmd = ansible_playbook()
    variables = {"perfsonar_ingest_archive_url": archive.base_url, "perfsonar_ingest_sites": SITES,
                 "perfsonar_ingest_local_site": "torino", "perfsonar_ingest_daemons": ["execute", "submit"],
                 "perfsonar_ingest_install_dir": str(tmp_path / "libexec"),
                 "perfsonar_ingest_config_path": str(tmp_path / "etc" / "perfsonar_ingest.json"),
                 "perfsonar_ingest_state_dir": str(tmp_path / "state"),
                 "perfsonar_ingest_condor_config_dir": str(tmp_path / "config.d")}
    variables.update(override)
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: htcfarm.bsaas.perfsonar_ingest\n")
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".cache", "collections")})
    result = subprocess.run([playbook_cmd, "-i", "localhost,", "-c", "local", "-e",
                             "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(tmp_path / "vars.json"),
                             str(tmp_path / "play.yml")], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, timeout=300, check=False)
    assert result.returncode != 0
    assert needle in " ".join(result.stdout.split()), result.stdout[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["play.yml", "vars.json"]   # nothing written
