#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for the Kubernetes
# end-to-end suite: etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler on 127.0.0.1, and one real node: a kubelet whose pods run
# as Docker containers on this machine's Docker Engine through cri-dockerd.
#
#   test/k8s/cluster.sh build   build (or reuse) the binaries and images
#   test/k8s/cluster.sh up      build, then start the cluster; prints KUBECONFIG=...
#   test/k8s/cluster.sh down    stop everything it started, leave nothing behind
#   test/k8s/cluster.sh env     print the KUBECONFIG of a running cluster
#
# The binaries are built from the pinned build modules in test/k8s/build/
# (Kubernetes 1.37.2, etcd 3.7.3, cri-dockerd 0.4.0 with a small patch) and
# cached under $CHAOSCTL_K8S_CACHE (default ~/.cache/chaosctl/k8s), keyed by
# a hash of those pins: a cold build takes about 11 minutes on 2 cores and
# about 4 GB of Go build cache; a warm "up" about 15 s.
#
# "down" records nothing it did not start: it stops the processes whose pid
# files it wrote, removes only the containers cri-dockerd made (they carry
# io.kubernetes.* labels), unmounts what the kubelet mounted under the
# cluster's directory, and restores the sysctls the kubelet changes
# (kernel.panic, kernel.panic_on_oops, vm.overcommit_memory).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
CRI_DOCKERD_VERSION=v0.4.0
CACHE_ROOT=${CHAOSCTL_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chaosctl/k8s}
DIR=${CHAOSCTL_K8S_DIR:-/var/lib/chaosctl-k8s}
# Ports, all on 127.0.0.1, away from the defaults so that a cluster
# already on this machine is not disturbed.
ETCD_PORT=${CHAOSCTL_K8S_ETCD_PORT:-23790}
API_PORT=${CHAOSCTL_K8S_API_PORT:-16443}
KUBELET_PORT=10350
NODE=localhost
PAUSE_IMAGE=chaosctl-k8s/pause:v1
TARGET_IMAGE=chaosctl-k8s/target:v1
SYSCTLS="kernel.panic kernel.panic_on_oops vm.overcommit_memory"

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: %s\n' "$*" >&2; exit 1; }

key() {
	# The cache key: what the binaries are built from.
	cat "$HERE"/build/kubernetes/go.mod "$HERE"/build/kubernetes/go.sum \
		"$HERE"/build/etcd/go.mod "$HERE"/build/etcd/go.sum \
		"$HERE"/build/cri-dockerd.patch | sha256sum | cut -c1-12
}

BIN=""
setbin() { BIN="$CACHE_ROOT/$K8S_VERSION-$(key)/bin"; }

build_bins() {
	setbin
	if [ -f "$BIN/.complete" ]; then
		return
	fi
	mkdir -p "$BIN"
	local t0=$SECONDS
	log "building Kubernetes $K8S_VERSION, etcd $ETCD_VERSION and cri-dockerd $CRI_DOCKERD_VERSION into $BIN (cold: about 11 minutes)"
	(cd "$HERE/build/kubernetes" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$BIN/" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl)
	(cd "$HERE/build/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
	# cri-dockerd needs three source changes (see the patch), so it builds
	# from a patched copy of its module.
	local src
	src=$(cd "$HERE/build/etcd" && GOFLAGS=-mod=mod go mod download -json "github.com/Mirantis/cri-dockerd@$CRI_DOCKERD_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$src" ] || die "cri-dockerd $CRI_DOCKERD_VERSION: module not downloaded"
	local work="$BIN/../cri-dockerd-src"
	rm -rf "$work" && cp -r "$src" "$work" && chmod -R u+w "$work"
	# The module zip keeps only vendor/modules.txt, so build from the
	# module cache (its go.mod's replace directives apply: it is the main
	# module here).
	(cd "$work" && rm -rf vendor && patch -s -p1 <"$HERE/build/cri-dockerd.patch" &&
		CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags=-s -o "$BIN/cri-dockerd" .)
	rm -rf "$work"
	touch "$BIN/.complete"
	log "built in $((SECONDS - t0)) s"
}

build_images() {
	local ctx
	for img in "$PAUSE_IMAGE" "$TARGET_IMAGE"; do
		if docker image inspect "$img" >/dev/null 2>&1; then continue; fi
		ctx=$(mktemp -d)
		case $img in
		"$PAUSE_IMAGE") (cd "$HERE/pause" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$ctx/app" .) ;;
		"$TARGET_IMAGE") (cd "$HERE/../.." && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$ctx/app" ./test/target) ;;
		esac
		printf 'FROM scratch\nCOPY app /app\nENTRYPOINT ["/app"]\n' >"$ctx/Dockerfile"
		docker build -q -t "$img" --label chaosctl.k8s.image=true "$ctx" >/dev/null
		rm -rf "$ctx"
	done
}

pki() {
	local p=$DIR/pki
	mkdir -p "$p"
	[ -f "$p/ca.crt" ] && return
	cd "$p"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=chaosctl-k8s-ca 2>/dev/null
	cert() { # name subject [san]
		openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
		if [ -n "${3:-}" ]; then printf 'subjectAltName=%s\n' "$3" >"$1.ext"; else : >"$1.ext"; fi
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 2 -extfile "$1.ext" 2>/dev/null
		rm -f "$1.csr" "$1.ext"
	}
	cert apiserver /CN=kube-apiserver "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
	cert admin "/O=system:masters/CN=admin"
	cert kubelet "/O=system:nodes/CN=system:node:$NODE" "IP:127.0.0.1,DNS:localhost"
	cert apiserver-kubelet "/O=system:masters/CN=kube-apiserver-kubelet-client"
	cert controller-manager /CN=system:kube-controller-manager
	cert scheduler /CN=system:kube-scheduler
	openssl genrsa -out sa.key 2048 2>/dev/null
	openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
	cd - >/dev/null
}

kubeconfig() { # name user-cert
	cat >"$DIR/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: chaosctl
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $DIR/pki/ca.crt
users:
- name: $1
  user:
    client-certificate: $DIR/pki/$2.crt
    client-key: $DIR/pki/$2.key
contexts:
- name: chaosctl
  context: {cluster: chaosctl, user: $1}
current-context: chaosctl
EOF
}

start() { # name command...
	local name=$1
	shift
	setsid "$@" >"$DIR/logs/$name.log" 2>&1 </dev/null &
	echo $! >"$DIR/pids/$name"
}

wait_for() { # what seconds command...
	local what=$1 secs=$2
	shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $end ]; then
			log "$what not ready after ${secs}s; the last lines of its logs:"
			tail -n 20 "$DIR"/logs/*.log >&2 || true
			return 1
		fi
		sleep 0.2
	done
}

up() {
	command -v docker >/dev/null || die "docker: not found"
	docker info >/dev/null 2>&1 || die "the Docker Engine is not reachable"
	[ "$(id -u)" = 0 ] || die "the kubelet needs root"
	if [ -f "$DIR/pids/kube-apiserver" ] && kill -0 "$(cat "$DIR/pids/kube-apiserver")" 2>/dev/null; then
		log "already up"
		env_line
		return
	fi
	build_bins
	build_images
	local t0=$SECONDS
	mkdir -p "$DIR"/{logs,pids,etcd,kubelet,cri-dockerd}
	# What the kubelet changes, so that "down" puts it back.
	if [ ! -f "$DIR/sysctls" ]; then
		for s in $SYSCTLS; do echo "$s=$(sysctl -n "$s")"; done >"$DIR/sysctls"
	fi
	pki
	kubeconfig admin admin
	kubeconfig kubelet kubelet
	kubeconfig controller-manager controller-manager
	kubeconfig scheduler scheduler
	local P=$DIR/pki

	start etcd "$BIN/etcd" --name chaosctl --data-dir "$DIR/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 10))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 10))" \
		--initial-cluster "chaosctl=http://127.0.0.1:$((ETCD_PORT + 10))" \
		--unsafe-no-fsync --quota-backend-bytes 1073741824
	start kube-apiserver "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
		--endpoint-reconciler-type none --service-cluster-ip-range 10.0.0.0/24 \
		--client-ca-file "$P/ca.crt" --tls-cert-file "$P/apiserver.crt" --tls-private-key-file "$P/apiserver.key" \
		--kubelet-client-certificate "$P/apiserver-kubelet.crt" --kubelet-client-key "$P/apiserver-kubelet.key" \
		--kubelet-certificate-authority "$P/ca.crt" \
		--service-account-key-file "$P/sa.pub" --service-account-signing-key-file "$P/sa.key" \
		--service-account-issuer https://kubernetes.default.svc \
		--authorization-mode Node,RBAC --allow-privileged=true \
		--enable-admission-plugins NodeRestriction --profiling=false
	wait_for kube-apiserver 60 "$BIN/kubectl" --kubeconfig "$DIR/admin.kubeconfig" get --raw /readyz
	start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$DIR/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$DIR/controller-manager.kubeconfig" --authorization-kubeconfig "$DIR/controller-manager.kubeconfig" \
		--controllers '*,-node-ipam-controller' --leader-elect=false --bind-address 127.0.0.1 --secure-port 0 \
		--service-account-private-key-file "$P/sa.key" --root-ca-file "$P/ca.crt" \
		--cluster-signing-cert-file "$P/ca.crt" --cluster-signing-key-file "$P/ca.key" \
		--use-service-account-credentials=true --concurrent-deployment-syncs 5 --profiling=false
	start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$DIR/scheduler.kubeconfig" \
		--authentication-kubeconfig "$DIR/scheduler.kubeconfig" --authorization-kubeconfig "$DIR/scheduler.kubeconfig" \
		--leader-elect=false --bind-address 127.0.0.1 --secure-port 0 --profiling=false
	# No CNI: cri-dockerd's no-op network plugin puts each pod in a network
	# namespace of its own on Docker's default bridge. Tests never send
	# traffic to pod IPs; they probe through the API or exec.
	start cri-dockerd "$BIN/cri-dockerd" --container-runtime-endpoint "unix://$DIR/cri-dockerd.sock" \
		--docker-endpoint unix:///var/run/docker.sock --pod-infra-container-image "$PAUSE_IMAGE" \
		--cri-dockerd-root-directory "$DIR/cri-dockerd" --streaming-bind-addr 127.0.0.1:0 --log-level error \
		--network-plugin no-op
	wait_for cri-dockerd 30 test -S "$DIR/cri-dockerd.sock"
	cat >"$DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $((KUBELET_PORT + 1))
authentication:
  x509: {clientCAFile: $P/ca.crt}
  webhook: {enabled: false}
  anonymous: {enabled: false}
authorization: {mode: AlwaysAllow}
tlsCertFile: $P/kubelet.crt
tlsPrivateKeyFile: $P/kubelet.key
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
makeIPTablesUtilChains: false
localStorageCapacityIsolation: false
registerNode: true
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {}
evictionPressureTransitionPeriod: 1s
containerRuntimeEndpoint: unix://$DIR/cri-dockerd.sock
syncFrequency: 2s
fileCheckFrequency: 2s
nodeStatusUpdateFrequency: 2s
crashLoopBackOff:
  maxContainerRestartPeriod: 1s
featureGates:
  KubeletCrashLoopBackOffMax: true
EOF
	start kubelet "$BIN/kubelet" --config "$DIR/kubelet.yaml" --kubeconfig "$DIR/kubelet.kubeconfig" \
		--root-dir "$DIR/kubelet" --cert-dir "$DIR/pki" --hostname-override "$NODE" \
		--v 1
	if ! wait_for "node $NODE" 90 bash -c "'$BIN/kubectl' --kubeconfig '$DIR/admin.kubeconfig' get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"; then
		die "the node did not become Ready"
	fi
	# The default service account must exist before pods can be created.
	wait_for "default service account" 30 "$BIN/kubectl" --kubeconfig "$DIR/admin.kubeconfig" -n default get serviceaccount default
	log "up in $((SECONDS - t0)) s"
	env_line
}

env_line() {
	setbin
	echo "KUBECONFIG=$DIR/admin.kubeconfig"
	echo "CHAOSCTL_K8S_BIN=$BIN"
}

stop_pid() { # name signal
	local f=$DIR/pids/$1
	[ -f "$f" ] || return 0
	local pid
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill -"$2" -- -"$pid" 2>/dev/null || kill -"$2" "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- -"$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

down() {
	[ -d "$DIR" ] || { log "not up"; return 0; }
	local t0=$SECONDS
	# The kubelet first, so it restarts nothing we remove next.
	stop_pid kubelet TERM
	local ids
	ids=$(docker ps -aq --filter label=io.kubernetes.docker.type 2>/dev/null || true)
	if [ -n "$ids" ]; then
		# shellcheck disable=SC2086
		docker rm -f -v $ids >/dev/null 2>&1 || true
	fi
	for name in cri-dockerd kube-scheduler kube-controller-manager kube-apiserver etcd; do
		stop_pid "$name" TERM
	done
	# What the kubelet mounted under its root dir (projected tokens,
	# empty dirs in memory), deepest first.
	awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
	if [ -f "$DIR/sysctls" ]; then
		while IFS== read -r k v; do sysctl -qw "$k=$v" >/dev/null 2>&1 || log "could not restore $k=$v"; done <"$DIR/sysctls"
	fi
	rm -rf "$DIR"
	log "down in $((SECONDS - t0)) s"
}

case ${1:-} in
build) build_bins && build_images ;;
up) up ;;
down) down ;;
env) env_line ;;
*) die "usage: $0 build|up|down|env" ;;
esac
