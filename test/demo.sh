#!/usr/bin/env bash
# make demo: start the demo target under its supervisor on loopback, run the
# example scenario against it, print the verdict and where the journal is.
set -euo pipefail
bin=${1:-bin}
dir=/tmp/chaosctl-demo
mkdir -p "$dir"
rm -f "$dir/target.pid"
echo "demo data" > "$dir/data.txt"
"$bin/target" -supervise -listen 127.0.0.1:18080 -pidfile "$dir/target.pid" -data "$dir/data.txt" \
	>"$dir/target.log" 2>&1 &
sup=$!
trap 'kill $sup 2>/dev/null; wait $sup 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	[ -s "$dir/target.pid" ] && (exec 3<>/dev/tcp/127.0.0.1/18080) 2>/dev/null && break
	sleep 0.1
done
echo "demo target up (supervisor $sup, server $(cat "$dir/target.pid")); running scenarios/examples/process-crash.toml"
set +e
CHAOSCTL_JOURNAL_DIR="$dir/journals" "$bin/chaosctl" run scenarios/examples/process-crash.toml
code=$?
set -e
echo "exit code $code (0 passed, 1 failed, 2 invalid, 3 not steady, 4 aborted, 5 error, 6 interrupted, 7 inconclusive)"
exit $code
