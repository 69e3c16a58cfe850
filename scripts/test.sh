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

# Expected minutes per scenario on a 2-core CI machine (from .cache/molecule-<s>.json of earlier
# runs when present): lanes are filled longest first, each scenario going to the lane with the least
# work so far.
molecule_minutes() {
  local s=$1 json=".cache/molecule-$1.json"
  if [ -f "$json" ]; then
    python3 -c 'import json,sys; print(max(1, round(json.load(open(sys.argv[1])).get("total_s", 300) / 60)))' "$json" 2>/dev/null && return
  fi
  case $s in
    site) echo 16 ;; htcondor23) echo 12 ;; htcondor|lark) echo 10 ;; controlplane) echo 8 ;; orchestration) echo 6 ;;
    *) echo 3 ;;
  esac
}

run_scenario() {  # one scenario; its figures go to .cache/molecule-<s>.out, printed when it ends
  local s=$1 rc=0
  python scripts/molecule_timed.py "$s" --log ".cache/molecule-$s.log" --json ".cache/molecule-$s.json" \
    > ".cache/molecule-$s.out" 2>&1 || rc=$?
  {
    echo "--- molecule test -s $s (lane $2): exit $rc"
    cat ".cache/molecule-$s.out"
    if [ "$rc" -ne 0 ]; then
      echo "--- scenario $s FAILED; last 80 lines of its log (.cache/molecule-$s.log):"
      tail -n 80 ".cache/molecule-$s.log"
    fi
  } >&2
  return "$rc"
}

# Scenarios run in BSAAS_MOLECULE_LANES parallel lanes (default 2; 1 runs them one after the other).
# Scenarios share nothing but the Docker engine and the apt cache: their containers, networks and
# molecule state are named per scenario, and scripts/apt-archives.py links packages atomically.
# Most of a scenario's time is waiting (package installs, daemons, negotiation cycles), so two lanes
# on two cores take about 60% of the sequential time; each scenario still reports its own figures.
stage_molecule() {
  local s rc=0 lanes=${BSAAS_MOLECULE_LANES:-2}
  local list=${BSAAS_SCENARIOS:-$(ci_scenarios)}
  list=$(echo "$list" | tr ' ' '\n' | awk 'NF')
  mkdir -p .cache
  # default first, alone: it proves the harness the others stand on.
  if echo "$list" | grep -qx default; then
    run_scenario default 0 || rc=1
    list=$(echo "$list" | grep -vx default)
  fi
  [ -n "$list" ] || return "$rc"
  local plan
  plan=$(for s in $list; do echo "$(molecule_minutes "$s") $s"; done | sort -rn | awk -v lanes="$lanes" '
    { best = 1; for (i = 2; i <= lanes; i++) if (load[i] < load[best]) best = i
      load[best] += $1; order[best] = order[best] " " $2 }
    END { for (i = 1; i <= lanes; i++) if (order[i] != "") print i ":" order[i] " (~" load[i] " min)" }')
  echo "--- molecule lanes:"; echo "$plan" | sed 's/^/    lane /'
  local pids=() lane
  while IFS=: read -r lane rest; do
    rest=${rest% (*}
    ( lane_rc=0; for s in $rest; do run_scenario "$s" "$lane" || lane_rc=1; done; exit "$lane_rc" ) &
    pids+=($!)
  done <<< "$plan"
  local pid
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
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
