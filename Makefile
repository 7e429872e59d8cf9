# procfsd: build, run and test. Every target that needs system packages installs them first, so
# `make run` and `make test` work as root on a fresh Debian machine.

SHELL := /bin/bash
GO ?= go
BIN := bin/procfsd
MOUNTPOINT ?= /var/lib/procfsd
ROOTFS := build/rootfs

# Debian packages the e2e suite, the benchmarks and the VM tests need (the daemon itself needs
# none: only Linux's FUSE and cgroups). make deps installs only the missing ones, with one apt-get
# update before the first install; make run does not call it.
DEB_PACKAGES := podman runc procps nodejs python3 util-linux debootstrap busybox-static lxcfs \
	docker.io fuse3 e2fsprogs qemu-system-x86 iptables ca-certificates
# systemd-analyze, for the unit file's verify test (systemd/unit_test.go); PID 1 stays as it is.
DEB_PACKAGES += systemd

# go test flags for the unit tests: -race for the data races FUSE handlers invite, -count=1 so a
# cached pass never hides a run against a changed machine.
UNIT_FLAGS := -race -count=1
# e2e flags: -v so the log shows every real program's output, -count=1 because the suite reads
# the live machine, -p 1 and a timeout well inside CI's 90 minutes.
E2E_FLAGS := -count=1 -v -p 1 -timeout 20m

.PHONY: all build deps rootfs run test fmt-check vet lint unit e2e clean

all: build

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/procfsd

deps:
	@missing=(); \
	for p in $(DEB_PACKAGES) $(EXTRA_DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$$p"); \
	done; \
	if (( $${#missing[@]} )); then \
		echo "installing: $${missing[*]}"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends "$${missing[@]}"; \
	fi

# The Debian tree the podman and Docker tests run containers from (debootstrap, cached in build/).
rootfs: deps build/go.mod
	bash scripts/rootfs.sh $(ROOTFS)

# build/ holds Debian trees and VM images; a go.mod of its own makes it another module, so that
# `go test ./...` never walks into it (as an ordinary user it cannot, and fails).
build/go.mod:
	mkdir -p build
	printf 'module build\n' > $@

run: build
	$(BIN) serve --mountpoint $(MOUNTPOINT)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go') e2e); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e

# staticcheck at a pinned version, fetched and built by go run from the module proxy.
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags e2e ./e2e

# Tests that need root, /dev/fuse or live cgroups skip without them; here they must run
# (internal/testenv).
unit:
	PROCFSD_REQUIRE_PRIVILEGED=1 $(GO) test $(UNIT_FLAGS) ./...

# The e2e suite sits behind the e2e build tag, so a plain `go test ./...` stays a unit-test run
# that needs no root. It needs root, /dev/fuse, the binary built above and the rootfs.
e2e: build rootfs
	PROCFSD_BIN=$(CURDIR)/$(BIN) PROCFSD_E2E_ROOTFS=$(CURDIR)/$(ROOTFS) \
		$(GO) test -tags e2e $(E2E_FLAGS) ./e2e

test: deps fmt-check vet lint unit e2e

clean:
	rm -rf bin

# The cgroup v2 + systemd VM suite (make vm-test; make test runs it where it can).
include vm/vm.mk

# Switches and opt-out (docs/behaviour.md §3, §6). `make install` puts the binary where procfsd.service and the
# hooks.d entry expect it, and the OCI hook where podman and CRI-O look for hooks
# (containers-common's default hooks directory). DESTDIR and PREFIX work as usual.
PREFIX ?= /usr/local
OCI_HOOKS_DIR ?= /usr/share/containers/oci/hooks.d
# FUZZTIME is how much `make fuzz` (part of `make test`) runs each fuzz target: a count of
# inputs, not a duration, because Go 1.26's fuzz coordinator can report its own -fuzztime
# deadline as a failure of the target when a worker is busy at that instant, on a loaded
# machine (golang/go#75804, fixed in Go 1.27). 50000 inputs take a few seconds a target.
FUZZTIME ?= 50000x

.PHONY: install install-hook fuzz
install: install-hook
install-hook: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/procfsd
	install -d $(DESTDIR)$(OCI_HOOKS_DIR)
	sed 's#/usr/local/bin/procfsd#$(PREFIX)/bin/procfsd#' systemd/oci-hooks.d/procfsd.json > $(DESTDIR)$(OCI_HOOKS_DIR)/procfsd.json
	chmod 0644 $(DESTDIR)$(OCI_HOOKS_DIR)/procfsd.json

# A short run of every fuzz target from its seed corpus on; go test runs one target at a time,
# so the targets are found by name and run one after the other.
fuzz:
	@set -e; for f in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do \
		pkg=./$$(dirname $$f); \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$pkg $$name"; \
			$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

test: fuzz

# Benchmarks (BENCHMARKS.md): procfsd beside LXCFS (-l --enable-cfs), native /proc and a null FUSE
# floor, read from inside a container cgroup and PID namespace, then 1000 containers at once.
# Needs root, /dev/fuse and lxcfs; writes BENCHMARKS.md. bench-quick is the latency part only.
# BENCH_FLAGS passes harness flags (bin/procfsd-bench -h), e.g. BENCH_FLAGS='-containers 300'.
BENCH_BIN := bin/procfsd-bench
BENCH_FLAGS ?=

# The FUSE-over-io_uring floor (bench/uringfloor, a C prototype on liburing) is measured beside
# the others where the kernel has FUSE over io_uring (Linux 6.14+).
URING_FLOOR := bin/uring-floor
# The scale run's container init (bench/scaleagent), a C program so that 1000 of them cost the
# machine little beside the daemons they measure.
SCALE_AGENT := bin/scale-agent
URING_FLAG = $(if $(wildcard /sys/module/fuse/parameters/enable_uring),-uring-floor $(URING_FLOOR))

.PHONY: bench bench-quick bench-build
bench bench-quick bench-build: EXTRA_DEB_PACKAGES := gcc libc6-dev liburing-dev
bench-build: deps build
	$(GO) build -o $(BENCH_BIN) ./bench
	mkdir -p bin
	gcc -O2 -Wall -o $(URING_FLOOR) bench/uringfloor/uring_floor.c -luring -lpthread
	gcc -O2 -Wall -o $(SCALE_AGENT) bench/scaleagent/scale_agent.c -lpthread

bench: deps bench-build
	$(BENCH_BIN) run -procfsd $(BIN) -scale-agent $(SCALE_AGENT) $(URING_FLAG) $(BENCH_FLAGS)
	$(GO) test -run '^$$' -bench . -benchmem ./proc

bench-quick: deps bench-build
	$(BENCH_BIN) run -quick -procfsd $(BIN) $(URING_FLAG) $(BENCH_FLAGS)
