# lvfsck — build, test, benchmark, fuzz, demo.
GO      ?= go
BIN     ?= bin/lvfsck
# The stand-in target (tests, the demo); never packaged: see README.
SIM_BIN ?= bin/spdk-sim
PKGS    := ./...
FUZZTIME ?= 20s

.PHONY: all build test bench fuzz demo vet fmt clean release release-test

all: build

# The version and commit the binary reports (lvfsck --version, the JSON
# reports); without git, the Go toolchain's build info is used instead.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.ldVersion=$(VERSION) -X main.ldCommit=$(COMMIT)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/lvfsck
	$(GO) build -o $(SIM_BIN) ./cmd/spdk-sim

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

# The whole story on the stand-in target, spdk-sim (see README).
demo: build
	./scripts/demo.sh $(BIN) $(SIM_BIN)

fmt:
	gofmt -w $$(git ls-files '*.go')

# Static binaries (no cgo: they run on any glibc or none, and in a
# distroless image), checksums, man pages and completions from the cobra
# tree (a -tags lvfsckgen build: the generator stays out of the product
# binary), and a .deb and .rpm per arch built with nfpm, pinned in
# packaging/go.mod (its own module: nfpm's tree stays out of go.mod).
# Then the DaemonSet's image, dist/lvfsck-image-oci.tar: one OCI layout
# holding an index of one image per arch, built without an engine or a
# registry by packaging/cmd/ociimage (go-containerregistry, from an empty
# base: see packaging/ociimage). Its timestamps are the commit's time, so
# a rebuild of the same commit gives the same digest.
ARCHES      ?= amd64 arm64
PKG_VERSION ?= $(shell echo '$(VERSION)' | sed 's/^v//; s/^\([^0-9]\)/0.0.0~\1/; s/-/~/g')
IMAGE_VERSION ?= $(or $(VERSION),dev)
SOURCE_DATE_EPOCH ?= $(or $(shell git log -1 --format=%ct 2>/dev/null),0)
release:
	rm -rf dist && mkdir -p dist/man dist/completions
	set -e; for a in $(ARCHES); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/lvfsck-linux-$$a ./cmd/lvfsck; \
	  $(GO) version -m dist/lvfsck-linux-$$a | grep -q 'CGO_ENABLED=0' || { echo "dist/lvfsck-linux-$$a: not built with CGO_ENABLED=0"; exit 1; }; \
	  if command -v file >/dev/null; then file dist/lvfsck-linux-$$a | grep -q 'statically linked' || { file dist/lvfsck-linux-$$a; echo "not static"; exit 1; }; fi; \
	done
	CGO_ENABLED=0 $(GO) build -tags lvfsckgen -ldflags "$(LDFLAGS)" -o dist/.lvfsck-gen ./cmd/lvfsck
	dist/.lvfsck-gen gen man dist/man && gzip -9n dist/man/*.8
	! ls dist/man | grep -q sim || { echo "the stand-in target (spdk-sim) leaked into lvfsck"; exit 1; }
	dist/.lvfsck-gen gen completion dist/completions
	rm dist/.lvfsck-gen
	sed 's|/usr/local/bin/lvfsck|/usr/bin/lvfsck|g' deploy/systemd/lvfsck-watch.service > dist/lvfsck-watch.service
	$(GO) -C packaging build -o ../dist/.nfpm github.com/goreleaser/nfpm/v2/cmd/nfpm
	set -e; mkdir -p dist/pkgroot; for a in $(ARCHES); do cp dist/lvfsck-linux-$$a dist/pkgroot/lvfsck; for p in deb rpm; do \
	  ARCH=$$a PKG_VERSION='$(PKG_VERSION)' dist/.nfpm package -f packaging/nfpm.yaml -p $$p -t dist/; \
	done; done
	rm -r dist/.nfpm dist/pkgroot
	$(GO) -C packaging build -o ../dist/.ociimage ./cmd/ociimage
	SOURCE_DATE_EPOCH='$(SOURCE_DATE_EPOCH)' dist/.ociimage -o dist/lvfsck-image-oci.tar \
	  -version '$(IMAGE_VERSION)' -revision '$(COMMIT)' $(foreach a,$(ARCHES),$(a)=dist/lvfsck-linux-$(a))
	rm dist/.ociimage
	cd dist && sha256sum lvfsck-linux-* *.deb *.rpm lvfsck-image-oci.tar > SHA256SUMS

# Installs dist's amd64 .deb with dpkg (root), runs it and removes it;
# reads the image back and runs its host-arch binary. Not part of make
# test: it needs root and a release build.
release-test: release
	cd packaging && $(GO) vet ./... && $(GO) test -count=1 -v ./...

clean:
	rm -rf bin dist
