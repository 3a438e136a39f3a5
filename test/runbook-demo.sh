#!/usr/bin/env bash
# make demo-runbook: start the demo target on loopback with -wipe-on-term,
# run scenarios/examples/restore-from-backup.toml (backup, disaster,
# restore, restart, data check), render its HTML report, stop the target.
set -euo pipefail
bin=${1:-bin}
dir=/tmp/chaosctl-runbook-demo
mkdir -p "$dir"
rm -f "$dir/target.pid"
echo "orders" > "$dir/data.txt"
setsid "$bin/target" -listen 127.0.0.1:18081 -pidfile "$dir/target.pid" -data "$dir/data.txt" -wipe-on-term \
	</dev/null >"$dir/target.log" 2>&1 &
# The runbook restarts the target in a session of its own: stop whichever
# instance the pidfile names at the end.
trap 'kill "$(cat "$dir/target.pid" 2>/dev/null)" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	[ -s "$dir/target.pid" ] && (exec 3<>/dev/tcp/127.0.0.1/18081) 2>/dev/null && break
	sleep 0.1
done
echo "demo target up (pid $(cat "$dir/target.pid")); running scenarios/examples/restore-from-backup.toml"
set +e
CHAOSCTL_JOURNAL_DIR="$dir/journals" "$bin/chaosctl" run --journal "$dir/journal.json" scenarios/examples/restore-from-backup.toml
code=$?
set -e
"$bin/chaosctl" report "$dir/journal.json" --format html --out "$dir/report.html"
echo "exit code $code (0 passed, 1 failed); report: $dir/report.html"
exit $code
