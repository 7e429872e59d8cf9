// Package e2e tests procfsd from the outside, as containers use it: the real daemon on a real FUSE
// mount, real cgroups made with containerd/cgroups, containers entered with unshare, podman and
// Docker, and the real programs (free, top, vmstat, uptime, python3, node) whose output must show
// the container's limits. Everything here is in _test.go files behind the e2e build tag; run it as root
// with `make test`, or `go test -tags e2e -v ./e2e` after `make build rootfs`.
//
// Environment:
//
//	PROCFSD_BIN          the daemon binary (default ../bin/procfsd)
//	PROCFSD_E2E_TARGET   procfsd (default) or lxcfs, to run the same suite against LXCFS
//	LXCFS_BIN            the lxcfs binary for that target (default /usr/bin/lxcfs)
//	PROCFSD_E2E_ROOTFS   the Debian tree for podman and Docker (default ../build/rootfs)
//	PROCFSD_REQUIRE_V2=1 fail, instead of running the cgroup v1 code path, unless the host is pure cgroup v2
package e2e
