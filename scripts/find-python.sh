#!/usr/bin/env bash
# Prints the path of a working pythonX.Y (pyenv versions first, then PATH), or fails.
set -u
v=$1
for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v" "$(command -v python"$v" 2>/dev/null)"; do
  [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import sys' >/dev/null 2>&1 && { echo "$cand"; exit 0; }
done
exit 1
