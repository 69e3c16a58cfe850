#!/usr/bin/env bash
# ansible-test sanity on an installed-layout copy of the checkout
# (ansible-test wants the tree at .../ansible_collections/htcfarm/bsaas).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Outside the checkout: ansible-test asks git for the file list, and .cache/ is ignored.
# A directory of its own per run, so that two runs on one machine do not clobber each other.
work=$(mktemp -d "${TMPDIR:-/tmp}/htcfarm-bsaas-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/htcfarm/bsaas"
mkdir -p "$dest"
# What git tracks plus what it would track (new, not ignored) files.
(cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
  rsync -a --from0 --files-from=- "$repo/" "$dest/"
cd "$dest"

# ansible-test bootstraps pip into each sanity venv with a get-pip script it downloads from a
# host outside the package registries. Stand in with the interpreter's own bundled pip wheel,
# which installs the requested pip release from PyPI like get-pip would.
pip_boot_version=$(python - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
boot="$HOME/.ansible/test/cache/get_pip_${pip_boot_version//./_}.py"
if [ ! -s "$boot" ]; then
  mkdir -p "$(dirname "$boot")"
  cat >"$boot" <<'PY'
"""Bootstrap pip into an empty venv from the interpreter's bundled wheel (get-pip stand-in)."""
import glob
import os
import runpy
import sys
import ensurepip

wheels = glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl"))
sys.path.insert(0, wheels[0])
# --no-setuptools/--no-wheel are get-pip's own options: leaving those packages out is the default here.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.argv = ["pip", "install"] + args
runpy.run_module("pip", run_name="__main__", alter_sys=True)
PY
fi
# Reported against the tree as a user installs it; the copy is not a git checkout.
python_version=${BSAAS_SANITY_PYTHON:-3.11}
# What the collection ships to users and targets: plugins, roles, playbooks, metadata. Tests,
# benchmarks and scripts are checked by running them (and by yamllint/ansible-lint).
targets=${BSAAS_SANITY_TARGETS:-plugins/ roles/ playbooks/ meta/ changelogs/}
# shellcheck disable=SC2086
ansible-test sanity --color no --python "$python_version" --venv ${BSAAS_SANITY_TESTS:-} "$@" $targets
