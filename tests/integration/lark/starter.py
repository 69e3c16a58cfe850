"""Stand-in for the part of condor_starter that Lark relies on, for the kernel tests.

It is not HTCondor: it only reproduces the process shape a Lark helper sees on an execute node
running HTCondor 24.7+ with NO_JOB_NETWORKING: a root-owned parent (its process name comes from
the test's policy, never "condor_starter") that starts the job as a slot user in a fresh network
namespace through the USER_JOB_WRAPPER, then runs the job-exit hook as the same user.

usage: starter.py NAME UID WRAPPER EXIT_HOOK JOB_AD -- job argv...
Prints one JSON line: job pid, job exit status, exit hook output.
"""
import json
import subprocess
import sys


def main():
    name, uid, wrapper, exit_hook, job_ad = sys.argv[1:6]
    job = sys.argv[7:]
    with open("/proc/self/comm", "w") as handle:
        handle.write(name)
    drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "_CONDOR_JOB_AD": job_ad}
    proc = subprocess.Popen(["unshare", "--net", "--"] + drop + [wrapper] + job, env=env)
    print(json.dumps({"job_pid": proc.pid}), flush=True)
    status = proc.wait()
    hook = subprocess.run(drop + [exit_hook, "exit"], input=b"", stdout=subprocess.PIPE, env=env, check=False)
    print(json.dumps({"job_pid": proc.pid, "status": status, "exit_hook": hook.stdout.decode()}), flush=True)


if __name__ == "__main__":
    main()
