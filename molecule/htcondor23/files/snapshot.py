#!/usr/bin/env python3
"""Print what a host holds that teardown must give back: package names, files no package owns,
systemd unit files, users and groups (JSON). Volatile and package-manager state is left out."""
import glob
import json
import os
import subprocess

ROOTS = ["/etc", "/usr", "/opt", "/srv", "/home", "/root", "/var/lib", "/var/spool", "/var/log/condor"]
SKIP = ("/var/lib/apt", "/var/lib/dpkg", "/var/lib/systemd", "/var/lib/ucf", "/var/lib/python", "/var/lib/pam",
        "/root/.ansible", "/root/.cache", "/etc/ld.so.cache", "/var/lib/dhcp", "/usr/lib/python3/dist-packages/ansible")
BACKUPS = ("/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-")


def owned():
    paths = set()
    for name in glob.glob("/var/lib/dpkg/info/*.list"):
        with open(name, errors="replace") as handle:
            paths.update(line.rstrip("\n") for line in handle)
    return paths


def files():
    known = owned()
    out = []
    for root in ROOTS:
        for top, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d != "__pycache__" and not os.path.join(top, d).startswith(SKIP)]
            for name in names + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
                path = os.path.join(top, name)
                if path.startswith(SKIP) or path in BACKUPS or path.endswith(".pyc") or path in known:
                    continue
                out.append(path)
    return sorted(out)


def names(path):
    with open(path) as handle:
        return sorted(line.split(":", 1)[0] for line in handle if line.strip())


packages = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n"],
                          stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split("\n")
units = subprocess.run(["systemctl", "list-unit-files", "--no-legend", "--no-pager"],
                       stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split("\n")
print(json.dumps({
    "packages": sorted(p.split()[0] for p in packages if p.endswith(" installed")),
    "files": files(),
    "units": sorted(u.split()[0] for u in units if u.strip()),
    "users": names("/etc/passwd"),
    "groups": names("/etc/group"),
}))
