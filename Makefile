# lvfsck — build, test, benchmark, fuzz, demo.
GO      ?= go
BIN     ?= bin/lvfsck
PKGS    := ./...
FUZZTIME ?= 20s

.PHONY: all build test bench fuzz demo vet fmt clean

all: build

# The version and commit the binary reports (lvfsck --version, the JSON
# reports); without git, the Go toolchain's build info is used instead.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.ldVersion=$(VERSION) -X main.ldCommit=$(COMMIT)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/lvfsck

# The test command the README and CI use. -race on, short fuzz seeds only.
# First the real spdk_tgt the e2e suite also runs against (../shared/spdk-tgt,
# installed by its setup.sh): its version goes into the log, and a machine
# without it fails here with the reason.
# deploy/ is its own Go module (k8s.io and kustomize stay out of the
# binary's go.mod): its tests check the manifests and, with promtool, the
# alert rules.
test: vet
	$(GO) run ./internal/realtgt/version
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	cd deploy && $(GO) test -race -count=1 ./...

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	cd deploy && $(GO) vet ./...

# Benchmarks: separate from test; run and quote the figures in notes.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3x $(PKGS)

# Each fuzz target for FUZZTIME. `go test -fuzz` takes one target per run.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5x $$pkg; \
	  done; \
	done

# The whole story on the embedded sim target (see README).
demo: build
	./scripts/demo.sh $(BIN)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
