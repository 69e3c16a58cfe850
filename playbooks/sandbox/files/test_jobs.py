"""The sandbox's test jobs, run on the submitter by the submit user who logged in over ssh.

playbooks/sandbox/test_jobs.yml sends this file on stdin: `ssh ... alice@<submitter> python3 - TIMEOUT HOST...`.
It submits one job pinned to each executor HOST, waits for all of them (at most TIMEOUT seconds in all),
and prints one JSON document: per job where it ran, as whom, its exit code, and per executor the startd's
address (which names a CCBID when the schedd reaches that startd through the collector's CCB).
"""
import json
import os
import subprocess
import sys
import time

JOB_SCRIPT = '#!/bin/sh\necho "$(id -un) $(hostname)"\n'
SUBMIT = """executable = job.sh
output = {host}.out
error = {host}.err
log = {host}.log
requirements = (TARGET.UtsnameNodename == "{host}")
request_cpus = 1
request_memory = 64
request_disk = 1024
{networking}queue
"""
# Where the executor leaves job networking to Lark (NO_JOB_NETWORKING: its ads say HasJobNetworking =
# false), it only takes jobs that do not want HTCondor's networking; see docs/lark.md.
NO_NETWORKING = 'want_job_networking = false\n'


def run(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)


def ads(argv):
    result = run(argv + ['-json'])
    if result.returncode != 0 or not result.stdout.strip():
        return [], result.stderr.strip()
    return json.loads(result.stdout), ''


def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return ''


def main():
    timeout = int(sys.argv[1])
    hosts = sys.argv[2:]
    work = os.path.expanduser('~/sandbox-test-jobs')
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    with open('job.sh', 'w') as handle:
        handle.write(JOB_SCRIPT)
    os.chmod('job.sh', 0o755)

    startds, status_error = ads(['condor_status', '-startd', '-attributes',
                                 'UtsnameNodename,Machine,MyAddress,HasJobNetworking'])
    by_node = {}
    for ad in startds:
        by_node.setdefault(ad.get('UtsnameNodename') or ad.get('Machine', '').split('.')[0], ad)

    jobs = []
    for host in hosts:
        for suffix in ('.out', '.err', '.log'):
            if os.path.exists(host + suffix):
                os.remove(host + suffix)
        with open(host + '.sub', 'w') as handle:
            lark = by_node.get(host, {}).get('HasJobNetworking') is False
            handle.write(SUBMIT.format(host=host, networking=NO_NETWORKING if lark else ''))
        submitted = run(['condor_submit', '-terse', host + '.sub'])
        cluster = submitted.stdout.split('.')[0].strip() if submitted.returncode == 0 else ''
        jobs.append({'target': host, 'cluster': cluster, 'submit_error': submitted.stderr.strip()})

    deadline = time.time() + timeout
    for job in jobs:
        if job['cluster']:
            left = max(1, int(deadline - time.time()))
            job['waited'] = run(['condor_wait', '-wait', str(left), job['target'] + '.log']).returncode == 0

    for job in jobs:
        job['history'] = {}
        if not job['cluster']:
            continue
        for _attempt in range(10):  # the schedd writes the history record just after the job's last log event
            found, _error = ads(['condor_history', job['cluster'], '-limit', '1', '-attributes',
                                 'ExitCode,ExitBySignal,LastRemoteHost,Owner,JobStatus'])
            if found:
                job['history'] = found[0]
                break
            time.sleep(1)
        if not job['history']:  # still queued, idle or held: say why, and take it away
            queued, _error = ads(['condor_q', job['cluster'], '-attributes',
                                  'JobStatus,HoldReason,LastRejMatchReason,LastRemoteHost'])
            job['queue'] = queued[0] if queued else {}
            run(['condor_rm', job['cluster']])
        job['output'] = read(job['target'] + '.out')
        job['error'] = read(job['target'] + '.err')[-500:]

    addresses = dict((node, ad.get('MyAddress', '')) for node, ad in by_node.items())
    print(json.dumps({'jobs': jobs, 'startd_addresses': addresses, 'status_error': status_error}))


if __name__ == '__main__':
    main()
