#!/bin/bash
# suite-e2e: the e2e package (built with the e2e tag on the host) on pure cgroup v2 under systemd.
# PROCFSD_REQUIRE_V2=1 turns every "not v2 here" into a failure, so no v2 path is skipped. The
# containers run from /opt/rootfs, the tree scripts/rootfs.sh builds on the host. The package
# reads ../testdata and ../systemd, so it runs from e2e/ beside a copy of those directories.
# Left to the host: TestMakeInstall runs make, which rebuilds the binary with the Go toolchain
# the guest does not have (it checks file installation, nothing cgroup-specific); the Docker
# tests import the whole container tree into a private dockerd, over 7 minutes under emulation,
# for the same bind-mount recipe and cgroup v2 reads the podman tests prove here.
set -u
export PROCFSD_BIN=/usr/local/bin/procfsd PROCFSD_E2E_ROOTFS=/opt/rootfs PROCFSD_REQUIRE_V2=1
src=/opt/procfsd-src
rm -rf "$src"
cp -a "$PROCFSD_VM_SHARE/src" "$src" && mkdir -p "$src/e2e" && cd "$src/e2e" || exit 1
# Under emulation only the core suite runs here (the v2 formulas in real containers,
# the tree's semantics, faults): the handover stress test (20 containers, 70 restarts) and the
# switch/hook suites take over 7 minutes each at TCG speed and are proven on the host and, for
# the unit and hooks.d entry, by the systemd and podman guest suites.
exec /usr/local/bin/e2e.test -test.v -test.count=1 -test.timeout=20m \
	-test.run '^(TestCgroupMode|TestUnshareContainers|TestListing|TestReadOnly|TestOffsets|TestControlFiles|TestReaderExitsDuringOpen|TestCgroupRemovedWhileOpen|TestUnreadableCgroup)$'

