#!/usr/bin/env bash
# Fail-over and fail-back of the central manager, timed from the controller through docker exec.
# Stops HTCondor on the central manager that runs the negotiator, submits a job and measures how
# long until it starts (the time the pool could not match); then starts that central manager
# again, submits another job and measures the same. Writes a JSON report to $FAILOVER_REPORT.
set -euo pipefail
submit=${FAILOVER_SUBMIT:-condor-submit}
limit=${FAILOVER_LIMIT:-420}
on() { local host=$1; shift; docker exec "$host" "$@"; }

cms=${FAILOVER_CMS:-condor-cm1 condor-cm2}
# Each negotiator reports to its own collector only: ask every central manager's.
negotiator() {
  local cm
  for cm in $cms; do on "$submit" condor_status -pool "$cm" -negotiator -af Machine 2>/dev/null || true; done \
    | sort -u | head -n 1
}

run_probe() {  # submits one job as alice; prints seconds until it ran, or -1 after $limit
  local start=$1 cluster status now
  cluster=$(on "$submit" su - alice -c \
    "printf 'executable = /bin/true\ntransfer_executable = false\nlog = probe.log\nqueue\n' | condor_submit -terse -" \
    | cut -d. -f1)
  while :; do
    now=$(date +%s)
    status=$(on "$submit" condor_q "$cluster" -af JobStatus 2>/dev/null || echo unknown)
    # Gone from the queue: completed, as the history says.
    [ -n "$status" ] || status=$(on "$submit" condor_history "$cluster" -limit 1 -af JobStatus 2>/dev/null || echo unknown)
    # 2 running, 4 completed: the job was matched.
    if [ "$status" = 2 ] || [ "$status" = 4 ]; then echo $(( now - start )); return 0; fi
    if [ $(( now - start )) -ge "$limit" ]; then echo -1; return 0; fi
    sleep 2
  done
}

old=$(negotiator)
[ -n "$old" ] || { echo "no negotiator in the pool before the test" >&2; exit 1; }
echo "negotiator before: $old"
start=$(date +%s)
on "$old" systemctl stop condor
over=$(run_probe "$start")
new=$(negotiator)
echo "fail-over: $old stopped; a job submitted then started after ${over}s; negotiator now on ${new:-none}"

on "$old" systemctl start condor
on "$old" condor_who -wait:120 IsReady >/dev/null
start=$(date +%s)
back=$(run_probe "$start")
after=$(negotiator)
echo "fail-back: $old running again; a job submitted then started after ${back}s; negotiator on ${after:-none}"

matched() { [ "$1" -ge 0 ] && echo true || echo false; }
cat > "${FAILOVER_REPORT:-/dev/stdout}" <<JSON
{"failover": {"old_negotiator": "$old", "new_negotiator": "$new", "seconds_without_matching": $over, "matched": $(matched "$over")},
 "failback": {"negotiator": "$after", "seconds_without_matching": $back, "matched": $(matched "$back")}}
JSON
