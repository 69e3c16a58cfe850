#!/usr/bin/env bash
# ansible-test sanity on an installed-layout copy of the checkout
# (ansible-test wants the tree at .../ansible_collections/htcfarm/bsaas).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$repo/.cache/sanity/ansible_collections/htcfarm/bsaas"
rm -rf "$dest"
mkdir -p "$dest"
# What git tracks plus what it would track (new, not ignored) files.
(cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
  rsync -a --from0 --files-from=- "$repo/" "$dest/"
cd "$dest"
# Reported against the tree as a user installs it; the copy is not a git checkout.
python_version=${BSAAS_SANITY_PYTHON:-3.11}
exec ansible-test sanity --color no --python "$python_version" --venv ${BSAAS_SANITY_TESTS:-} "$@"
