// Package cgroupview answers "which container is this process in, and what are that
// container's numbers" from cgroupfs and /proc, for cgroup v1, v2 and hybrid hosts.
//
// # Roots
//
// Both host trees are values: New(cgroupRoot, procRoot) reads only below those two
// directories, so tests point them at plain directories under testdata/ (the fixture layout
// decides the Mode there, see DetectMode).
//
// # From a PID to a container (docs/behaviour.md §2.1)
//
// Resolve takes the host TID of a FUSE request. It reads /proc/<pid>/cgroup and
// /proc/<pid>/status, finds PID 1 of the caller's PID namespace (the nsfs ioctl
// NS_GET_TGID_FROM_PIDNS on Linux ≥ 6.11, else a scan of NSpid lines, cached per namespace
// inode) and uses that init's cgroup minus a trailing /init.scope when it is the caller's own
// cgroup or an ancestor of it; otherwise, and for callers in the host PID namespace, the
// caller's own cgroup. On v1 the rule applies per controller. Results are cached under the
// pair (PID, start time), so a reused PID never sees another process's entry, and for at most
// a few seconds, so a process moved to another cgroup is seen again soon. A cached Resolve
// costs one read of /proc/<pid>/stat and no allocation.
//
// # Reading a container
//
// Memory, CPU, Tasks, IO and Pressure each read only the few files their view needs, in sequence,
// with small reads that never stat (cgroupfs and procfs report sizes of 0 or 4096). Limits are
// minima over the cgroup and every ancestor, because a Kubernetes pod or a systemd slice may carry
// the limit while the container's own cgroup says "max" (docs/behaviour.md §2.2, §2.3). A file that
// cannot be read or parsed is an error, never a zero. "No limit" in any spelling (v2 "max", v1
// PAGE_COUNTER_MAX, a CFS quota of -1) is Unlimited, produced in parseLimit only.
//
// On hybrid hosts a controller mounted as v1 is read as v1; every other controller, and PSI,
// is read from the unified hierarchy (docs/behaviour.md §2.1).
//
// The package does no logging; callers decide what an error means (docs/behaviour.md §4).
package cgroupview
