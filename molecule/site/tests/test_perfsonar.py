"""perfSONAR-aware matchmaking on the real two-site pool, from the archive prepare.yml runs on site-1.

The archive measures alpha -> beta at 1 Mbit/s and beta -> alpha at 5 Mbit/s (plus a 900 Mbit/s UDP
offered-rate test that must be left out). Jobs are submitted at alpha (site-1); the policy allows at most
300 s of input transfer for inputs over 10 MiB (molecule.yml). Input files are sparse: condor_submit takes
TransferInputSizeMB from their size.
"""
import os
import time

import testinfra.utils.ansible_runner

inventory = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = ["site-1"]

USER = "pstest"
FIGURES_WAIT = 150


def node(name):
    return testinfra.get_host("ansible://" + name + "?ansible_inventory=" + os.environ["MOLECULE_INVENTORY_FILE"])


def startd_figures(site1, machine, attrs):
    out = site1.run("condor_status -startd -constraint 'Machine == \"%s\"' -af %s" % (machine, " ".join(attrs)))
    assert out.rc == 0, out.stderr
    return out.stdout.split("\n")[0].split()


def wait_for_figures(site1, machine, attrs):
    """The startd ad after its STARTD_CRON has copied the site's figures (it runs every minute)."""
    deadline = time.monotonic() + FIGURES_WAIT
    values = []
    while time.monotonic() < deadline:
        values = startd_figures(site1, machine, ["PerfSONAR_Status"] + attrs)
        if values and values[0] == "ok" and "undefined" not in values:
            return values[1:]
        time.sleep(5)
    raise AssertionError("%s never published %s with status ok: %s" % (machine, attrs, values))


def submit(site1, name, input_mb, extra):
    """Submit one job as USER from site-1 with a sparse input of input_mb MiB; returns the cluster id."""
    lines = ["executable = /bin/hostname", "transfer_executable = false", "should_transfer_files = YES",
             "when_to_transfer_output = ON_EXIT", "output = %s.out" % name, "error = %s.err" % name,
             "log = %s.log" % name, "request_cpus = 1", "request_memory = 64"]
    if input_mb:
        lines.append("transfer_input_files = %s.in" % name)
    lines += extra + ["queue"]
    script = ("cd && rm -f {n}.log {n}.out && {trunc}printf '%s\\n' > {n}.sub && condor_submit -terse {n}.sub"
              .format(n=name, trunc=("truncate -s %dM %s.in && " % (input_mb, name)) if input_mb else ""))
    out = site1.run("su - %s -c %s" % (USER, _quote(script % "\\n".join(lines).replace("'", "'\\''"))))
    assert out.rc == 0, out.stdout + out.stderr
    return out.stdout.strip().split(".")[0]


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def wait_done(site1, name, cluster):
    """ExitCode and the executor of a finished job (condor_wait on its log, then condor_history)."""
    out = site1.run("su - %s -c %s" % (USER, _quote(
        "condor_wait -wait 240 %s.log >/dev/null; condor_history %s -limit 1 -af ExitCode LastRemoteHost"
        % (name, cluster))))
    fields = out.stdout.split()
    assert out.rc == 0 and len(fields) == 2, "job %s (%s) did not finish: %s %s" % (name, cluster, out.stdout,
                                                                                   out.stderr)
    return fields


def test_executors_take_their_site_figures_from_the_collector(host):
    """One ad per site in the collector, from the central manager's publisher; each startd copied its own."""
    ads = host.run("condor_status -any -constraint 'MyType == \"BSaaSPerfSONAR\"' -af PerfSONAR_Site Name")
    assert ads.rc == 0, ads.stderr
    assert sorted(line.split()[0] for line in ads.stdout.splitlines() if line.strip()) == ["alpha", "beta"], ads.stdout
    # beta: 1 Mbit/s in from alpha (the UDP offered rate left out), 5 out, 25 ms ping, 12 ms one-way from alpha
    beta = wait_for_figures(host, "site-3", ["PerfSONAR_Site", "PerfSONAR_InMbps_alpha", "PerfSONAR_OutMbps_alpha",
                                             "PerfSONAR_RttMs_alpha", "PerfSONAR_OwDelayOutMs_alpha"])
    assert beta[0] == "beta" and [float(v) for v in beta[1:]] == [1.0, 5.0, 25.0, 12.0], beta
    alpha = wait_for_figures(host, "site-2", ["PerfSONAR_Site", "PerfSONAR_InMbps_beta", "PerfSONAR_InMbps_alpha"])
    assert alpha[0] == "alpha" and [float(v) for v in alpha[1:]] == [5.0, 10000.0], alpha
    # only site-1 reads the archive (it listens on site-1's loopback): the executors never asked it
    readers = host.run("cut -d' ' -f1 /var/log/bsaas-test-archive.log | sort -u")
    assert readers.stdout.split() == ["127.0.0.1"], readers.stdout


def test_schedd_throttles_follow_the_measured_bandwidth(host):
    """Uploads from the best path out of alpha (1 Mbit/s / 0.25), downloads from the best path in (5 / 0.25)."""
    for knob, expected in (("MAX_CONCURRENT_UPLOADS", "4"), ("MAX_CONCURRENT_DOWNLOADS", "20")):
        live = host.run("condor_config_val -schedd %s" % knob)
        assert live.rc == 0 and live.stdout.strip() == expected, (knob, live.stdout, live.stderr)


def test_large_input_is_not_matched_behind_the_thin_link_and_runs_at_the_other_site(host):
    assert host.run("id %s || useradd -m %s" % (USER, USER)).rc == 0
    site_beta = ['requirements = TARGET.PerfSONAR_Site == "beta"']
    prefer_beta = ['rank = 1000 * (TARGET.PerfSONAR_Site =?= "beta")']
    # 50 MiB over 1 Mbit/s is 419 s, more than the 300 s allowed: never matched at beta ...
    stuck = submit(host, "large-beta", 50, site_beta)
    # ... while a small job that prefers beta runs there, in the same negotiation cycles
    small = submit(host, "small", 0, prefer_beta)
    code, where = wait_done(host, "small", small)
    assert code == "0" and "site-3" in where, where
    state = host.run("condor_q %s -af JobStatus NumJobMatches" % stuck)
    host.run("condor_rm %s" % stuck)
    assert state.stdout.split() == ["1", "undefined"], state.stdout
    # the same large input, preferring beta, runs at alpha instead
    large = submit(host, "large", 50, prefer_beta)
    code, where = wait_done(host, "large", large)
    assert code == "0" and "site-2" in where, where


def test_pre_job_rank_sends_a_job_to_the_faster_site_when_both_are_free(host):
    """15 MiB takes 126 s to beta (allowed) and 0 s at alpha: NEGOTIATOR_PRE_JOB_RANK beats the job's own rank."""
    assert host.run("id %s || useradd -m %s" % (USER, USER)).rc == 0
    busy = host.run("condor_status -startd -af Machine State Activity PerfSONAR_Status")
    cluster = submit(host, "ranked", 15, ['rank = 1000 * (TARGET.PerfSONAR_Site =?= "beta")'])
    code, where = wait_done(host, "ranked", cluster)
    assert code == "0" and "site-2" in where, (where, busy.stdout)
