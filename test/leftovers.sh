#!/usr/bin/env bash
# Fails when the test suite left something behind: a process started from
# the test binaries, a container, volume or network the tests labelled, a
# mount under /tmp, an nftables table of ours, or a qdisc a fault adds
# (tbf, netem, ingress) on one of the host's own interfaces. `snapshot
# FILE` records what is there before the tests, `check FILE` compares
# after them, so only what the tests added counts; a process counts once
# per copy, so a second one of the same command line is seen too.
set -euo pipefail

list() {
	# Processes whose command line names the e2e binaries' directory, a
	# chaosctl binary, a plugin, the demo target or a Prometheus (started by
	# the tests).
	ps -eo pid=,args= | awk '$2 ~ /chaosctl-e2e-bin-|\/chaosctl-plugin-|\/chaosctl-probe-|\/target( |$)|(^|\/)prometheus$/ {print "process " $2}' || true
	if command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; then
		timeout 10 docker ps -aq --filter label=chaosctl.test | sed 's/^/container /' || true
		timeout 10 docker volume ls -q --filter label=chaosctl.test | sed 's/^/volume /' || true
		timeout 10 docker network ls -q --filter label=chaosctl.test | sed 's/^/network /' || true
	fi
	awk '$2 ~ /^\/tmp\// {print "mount " $2}' /proc/mounts || true
	if command -v nft >/dev/null 2>&1; then
		timeout 5 nft list tables 2>/dev/null | awk '/chaosctl/ {print "nft " $0}' || true
	fi
	if command -v tc >/dev/null 2>&1; then
		# Without the handle, which a re-added qdisc may change.
		timeout 5 tc qdisc show 2>/dev/null | awk '$2 == "tbf" || $2 == "netem" || $2 == "ingress" {print "qdisc " $2 " " $4 " " $5}' || true
	fi
}

case "${1:-}" in
snapshot) list | sort >"$2" ;;
check)
	after=$(mktemp)
	list | sort >"$after"
	left=$(comm -13 "$2" "$after")
	rm -f "$after"
	if [ -n "$left" ]; then
		echo "the tests left these behind:" >&2
		echo "$left" >&2
		exit 1
	fi
	echo "nothing left behind"
	;;
*)
	echo "usage: $0 snapshot|check FILE" >&2
	exit 2
	;;
esac
