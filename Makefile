# chaosctl: build, test, benchmark, lint and demo.
GO       ?= go
BIN      ?= bin
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/chaosctl/chaosctl/internal/cli.Version=$(VERSION)
export CGO_ENABLED ?= 0

.PHONY: all build test test-short test-k8s bench bench-k8s lint demo demo-runbook clean proto

all: lint build test

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/chaosctl ./cmd/chaosctl
	$(GO) build -trimpath -o $(BIN)/target ./test/target

# The whole suite: unit tests, then end-to-end tests against real processes,
# real HTTP servers, real plugin subprocesses and (with CHAOSCTL_E2E=1) the
# real Docker Engine, then checks that they left nothing behind (a process,
# container, mount, nft table: test/leftovers.sh), whether or not they
# passed. Unit packages run in parallel: their tests simulate time
# (testing/synctest) or assert none tight enough for a busy machine to break.
# test/ alone measures real time and CPU (recovery ground truth, CPU stress,
# the proxy's toxic timings), so it runs one package at a time (-p 1): on a
# 2-core machine two packages at once would measure each other.
MODULE   = $(shell $(GO) list -m)
MEASURED = $(MODULE)/test/...
UNIT     = $(filter-out $(MODULE)/test $(MODULE)/test/%,$(shell $(GO) list ./...))
test: lint
	@mkdir -p $(BIN) && bash test/leftovers.sh snapshot $(BIN)/.before-test
	@status=0; \
	echo "$(GO) test -count=1 -timeout 12m <every package but $(MEASURED)>"; \
	$(GO) test -count=1 -timeout 12m $(UNIT) || status=1; \
	echo "$(GO) test -p 1 -count=1 -timeout 12m $(MEASURED)"; \
	$(GO) test -p 1 -count=1 -timeout 12m $(MEASURED) || status=1; \
	bash test/leftovers.sh check $(BIN)/.before-test || status=1; \
	exit $$status

test-short:
	$(GO) test -count=1 -short ./...

# Benchmarks print figures; they are not pass/fail gates.
bench:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk; } || echo "note: no wrk; the load benchmark prints the probe alone"
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./experiments/ ./probes/ ./daemon/ ./scenarios/ ./plugins/host/ ./plugins/disk/ ./report/ ./plugins/latency/tcpproxy/
	CHAOSCTL_E2E=1 $(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./test/

# Regenerates the plugin contract's Go code (committed, so `make test` needs
# no protoc). protoc comes from Debian; its Go plugins are pinned here.
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
TOOLS              := $(CURDIR)/$(BIN)/tools
proto:
	@command -v protoc >/dev/null || { apt-get update -qq && apt-get install -y -qq protobuf-compiler; }
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH=$(TOOLS):$$PATH protoc -I plugins/proto \
		--go_out=plugins/proto/faultpb --go_opt=paths=source_relative \
		--go-grpc_out=plugins/proto/faultpb --go-grpc_opt=paths=source_relative \
		plugins/proto/fault.proto

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Runs a real scenario against a real supervised service on loopback:
# kill the process, measure how fast the supervisor brings it back.
demo: build
	@bash test/demo.sh $(BIN)

# Exercises a disaster-recovery runbook for real on loopback: backup, the
# data wiped and the service stopped, restore and restart, data check; then
# renders the HTML report.
demo-runbook: build
	@bash test/runbook-demo.sh $(BIN)

clean:
	rm -rf $(BIN)

# The Kubernetes suite against a real cluster on this machine: test/k8s/cluster.sh
# builds (once; cached by version under ~/.cache/chaosctl/k8s, about 11
# minutes cold on 2 cores) Kubernetes, etcd and cri-dockerd, starts a control
# plane on 127.0.0.1 and a real kubelet whose pods are Docker containers,
# runs the -tags k8s tests, and tears everything down, leaving nothing behind.
test-k8s:
	@mkdir -p $(BIN) && bash test/leftovers.sh snapshot $(BIN)/.before-k8s
	@set -e; trap 'bash test/k8s/cluster.sh down' EXIT; \
	env=$$(bash test/k8s/cluster.sh up); \
	export CHAOSCTL_K8S_KUBECONFIG=$$(printf '%s\n' "$$env" | sed -n 's/^KUBECONFIG=//p'); \
	export CHAOSCTL_K8S_BIN=$$(printf '%s\n' "$$env" | sed -n 's/^CHAOSCTL_K8S_BIN=//p'); \
	$(GO) test -tags k8s -p 1 -count=1 -timeout 20m -run 'Kubernetes' $(K8S_BENCH) ./test/
	@bash test/leftovers.sh check $(BIN)/.before-k8s

# The Kubernetes benchmarks, on the same cluster.
bench-k8s:
	@$(MAKE) --no-print-directory test-k8s K8S_BENCH="-bench Kubernetes -benchtime 1x"
