# chaosctl: build, test, benchmark, lint and demo.
GO       ?= go
BIN      ?= bin
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/chaosctl/chaosctl/internal/cli.Version=$(VERSION)
export CGO_ENABLED ?= 0

.PHONY: all build test test-short bench lint demo demo-runbook clean

all: lint build test

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/chaosctl ./cmd/chaosctl
	$(GO) build -trimpath -o $(BIN)/target ./test/target

# The whole suite: unit tests, then end-to-end tests against real processes,
# real HTTP servers, real plugin subprocesses and (with CHAOSCTL_E2E=1) the
# real Docker Engine.
test: lint
	$(GO) test -count=1 -timeout 12m ./...

test-short:
	$(GO) test -count=1 -short ./...

# Benchmarks print figures; they are not pass/fail gates.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./experiments/ ./probes/ ./daemon/ ./report/

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
