#!/usr/bin/env python3
"""Give test containers their own apt archive directory, seeded from one shared package cache.

apt holds the archive directory's lock for a whole install, downloads and dpkg alike, so containers
that share one bind-mounted /var/cache/apt/archives install one at a time. Each container mounts
<shared>-nodes/<name> instead. Before containers start, this script

  1. links every package any container downloaded before into the shared cache, and
  2. links every package of the shared cache into each named container's directory,

with hard links (one copy on disk), falling back to copies across file systems.

    python3 scripts/apt-archives.py SHARED NAME...          # prepare the directories of NAMEs
    python3 scripts/apt-archives.py SHARED --molecule FILE  # NAMEs from a molecule.yml's platforms
"""
import errno
import os
import shutil
import sys


def node_root(shared):
    return shared.rstrip('/') + '-nodes'


def node_dir(shared, name):
    return os.path.join(node_root(shared), name)


def link_packages(source, target):
    """Link the .deb files of source that target lacks; return how many were added."""
    if not os.path.isdir(source):
        return 0
    present = set(os.listdir(target))
    added = 0
    for name in os.listdir(source):
        if not name.endswith('.deb') or name in present:
            continue
        src, dst = os.path.join(source, name), os.path.join(target, name)
        try:
            os.link(src, dst)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                continue  # another scenario running at the same time linked it first
            # Across file systems: copy beside it, then rename, so that no apt ever reads half a file.
            tmp = dst + '.partial-%d' % os.getpid()
            shutil.copy2(src, tmp)
            os.replace(tmp, dst)
        added += 1
    return added


def prepare(shared, names):
    os.makedirs(os.path.join(shared, 'partial'), exist_ok=True)
    root = node_root(shared)
    os.makedirs(root, exist_ok=True)
    harvested = sum(link_packages(os.path.join(root, d), shared) for d in sorted(os.listdir(root)))
    seeded = 0
    for name in names:
        own = node_dir(shared, name)
        os.makedirs(os.path.join(own, 'partial'), exist_ok=True)
        seeded += link_packages(shared, own)
    return harvested, seeded


def molecule_platforms(path):
    import yaml  # only the --molecule form needs it; molecule's own environment has it
    with open(path) as handle:
        config = yaml.safe_load(handle)
    return [platform['name'] for platform in config.get('platforms') or []]


def main(argv):
    if len(argv) < 2 or argv[1] in ('-h', '--help'):
        sys.stderr.write(__doc__)
        return 2
    shared = os.path.expanduser(argv[1])
    names = argv[2:]
    if names[:1] == ['--molecule']:
        if len(names) != 2:
            sys.stderr.write('apt-archives: --molecule takes one molecule.yml\n')
            return 2
        names = molecule_platforms(names[1])
    harvested, seeded = prepare(shared, names)
    print('apt-archives: %d package(s) gathered into %s, %d linked into %d container director%s'
          % (harvested, shared, seeded, len(names), 'y' if len(names) == 1 else 'ies'))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
