package cgroupview

import "errors"

var (
	// ErrProcessGone means the process being resolved exited (or its PID namespace is dying)
	// before it could be looked up; docs/behaviour.md §2.1 answers such callers with the host view.
	ErrProcessGone = errors.New("process gone")
	// ErrNoData means the container's cgroup does not expose what was asked for (no blkio counters, no
	// PSI files, no cpuset anywhere up the tree); docs/behaviour.md §2.5 answers the host file.
	ErrNoData = errors.New("no data in cgroup")
	// ErrNoCgroups means the cgroup root holds neither a v1 nor a v2 hierarchy.
	ErrNoCgroups = errors.New("no cgroup hierarchy")
)
