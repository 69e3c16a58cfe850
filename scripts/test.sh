#!/usr/bin/env bash
# The whole test suite, from a bare Debian 12 machine: setup, static checks, unit tests
# (Python 3.11 and the EL7 interpreter 3.6), kernel-level integration tests, every molecule
# scenario, the packaging check and the benchmarks. Prints how long each stage took and
# exits non-zero if any stage failed.
#
#   bash scripts/test.sh                       # everything
#   BSAAS_STAGES="static unit" bash scripts/test.sh
#   BSAAS_SCENARIOS="default controlplane" bash scripts/test.sh
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

stages=${BSAAS_STAGES:-setup static unit integration molecule package benchmarks}
results=()
failed=0
passed=0
suite_start=$(date +%s)

run_stage() {
  local name=$1; shift
  local start rc
  start=$(date +%s)
  echo
  echo "=== stage $name: start $(date -u +%H:%M:%S)"
  "$@"
  rc=$?
  local took=$(( $(date +%s) - start ))
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1)); results+=("$(printf '%-12s ok      %5ss' "$name" "$took")")
  else
    failed=$((failed + 1)); results+=("$(printf '%-12s FAILED  %5ss (exit %s)' "$name" "$took" "$rc")")
  fi
  echo "=== stage $name: exit $rc after ${took}s"
}

# pytest exits 5 when it collected nothing: for a folder that is supposed to hold tests
# that is a failure, not a pass.
pytest_strict() {
  "$@"
  local rc=$?
  if [ "$rc" -eq 5 ]; then echo "no tests were collected by: $*" >&2; return 1; fi
  return "$rc"
}

step() {  # run one command of a stage, remember a failure, keep going within the stage
  echo "--- $*"
  "$@" || { echo "--- FAILED: $*" >&2; step_failed=1; }
}

stage_setup() {
  bash scripts/setup.sh
}

collection_modules() {
  find plugins/modules -name '*.py' ! -name '__init__.py' -printf '%f\n' 2>/dev/null | sed 's/\.py$//' | sort
}

stage_static() {
  step_failed=0
  step yamllint -s .
  step ansible-lint --offline -q
  step antsibull-changelog lint
  local m
  for m in $(collection_modules); do
    echo "--- ansible-doc htcfarm.bsaas.$m"
    ansible-doc -t module "htcfarm.bsaas.$m" >/dev/null || { echo "--- FAILED: ansible-doc $m" >&2; step_failed=1; }
  done
  # Module code runs on EL7's Python 3.6: it must at least compile there.
  local py36
  py36=$(bash scripts/find-python.sh 3.6) || { echo "python3.6 missing" >&2; return 1; }
  step "$py36" -m compileall -q plugins/modules plugins/module_utils
  step bash scripts/sanity.sh
  return "$step_failed"
}

stage_unit() {
  step_failed=0
  step pytest_strict pytest -q -p no:cacheprovider tests/unit
  # The same module code and module_utils under Python 3.6 (EL7), with ansible-core 2.11.
  local targets=()
  [ -d tests/unit/plugins/module_utils ] && targets+=(tests/unit/plugins/module_utils)
  [ -d tests/unit/plugins/modules ] && targets+=(tests/unit/plugins/modules)
  if [ ${#targets[@]} -gt 0 ]; then
    step pytest_strict env -u VIRTUAL_ENV .venv36/bin/python -m pytest -q -p no:cacheprovider "${targets[@]}"
  fi
  return "$step_failed"
}

stage_integration() {
  if [ ! -d tests/integration ] || [ -z "$(find tests/integration -name 'test_*.py' -print -quit)" ]; then
    echo "no integration tests yet"; return 0
  fi
  pytest_strict pytest -q -p no:cacheprovider -o testpaths=tests/integration tests/integration
}

ci_scenarios() {
  local d
  for d in molecule/*/; do
    d=${d%/}; [ -f "$d/molecule.yml" ] || continue
    if [ -f "$d/NOT_IN_CI" ]; then
      echo "scenario ${d#molecule/} is not run here: $(head -n1 "$d/NOT_IN_CI")" >&2
      continue
    fi
    echo "${d#molecule/}"
  done
}

stage_molecule() {
  local s rc=0
  local list=${BSAAS_SCENARIOS:-$(ci_scenarios)}
  # default first: it proves the harness the others stand on.
  list=$(echo "$list" | tr ' ' '\n' | awk 'NF' | sort | awk '$0=="default"{print; next} {rest[++n]=$0} END{for(i=1;i<=n;i++) print rest[i]}')
  for s in $list; do
    echo "--- molecule test -s $s"
    if python scripts/molecule_timed.py "$s" --log ".cache/molecule-$s.log" --json ".cache/molecule-$s.json"; then
      :
    else
      echo "--- scenario $s FAILED; last 80 lines of its log (.cache/molecule-$s.log):" >&2
      tail -n 80 ".cache/molecule-$s.log" >&2
      rc=1
    fi
  done
  return "$rc"
}

stage_package() {
  # The release artifact builds and installs on its own, and every module is listed from it.
  local out rc=0
  out=$(mktemp -d)
  ansible-galaxy collection build --force --output-path "$out" . &&
    ansible-galaxy collection install --force --offline --no-deps -p "$out/installed" "$out"/htcfarm-bsaas-*.tar.gz &&
    test -f "$out/installed/ansible_collections/htcfarm/bsaas/MANIFEST.json" &&
    ANSIBLE_COLLECTIONS_PATH="$out/installed" ansible-doc -t module -l htcfarm.bsaas | sed 's/^/  /' || rc=1
  rm -rf "$out"
  return "$rc"
}

stage_benchmarks() {
  local b rc=0
  for b in benchmarks/*.py benchmarks/*.sh; do
    [ -f "$b" ] || continue
    case "$(head -n 5 "$b")" in *"bench: not-in-ci"*) echo "--- $b: not run in the suite (see its header)"; continue;; esac
    echo "--- $b"
    case "$b" in
      *.py) python "$b" || rc=1 ;;
      *.sh) bash "$b" || rc=1 ;;
    esac
  done
  return "$rc"
}

# setup runs before the environment can be sourced.
for s in $stages; do
  if [ "$s" = setup ]; then run_stage setup stage_setup; fi
done
# shellcheck source=scripts/env.sh
source scripts/env.sh
for s in $stages; do
  case "$s" in
    setup) ;;
    static|unit|integration|molecule|package|benchmarks) run_stage "$s" "stage_$s" ;;
    *) echo "unknown stage $s" >&2; failed=$((failed + 1)) ;;
  esac
done

echo
echo "=== summary ($(( $(date +%s) - suite_start ))s in all)"
printf '  %s\n' "${results[@]}"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
