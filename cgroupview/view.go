package cgroupview

import "math"

// Unlimited is how every "no limit" reads after parsing: v1's 9223372036854771712 (PAGE_COUNTER_MAX
// rounded to pages), v2's "max", a CFS quota of -1. It is produced in exactly one place, parseLimit
// (through limitValue, which memory.stat's hierarchical limits also take).
const Unlimited = math.MaxUint64

// Container is the root cgroup of the caller's container (docs/behaviour.md §2.1), one path per
// controller. Paths are absolute inside each hierarchy ("/kubepods/pod1/ctr"), as
// /proc/<pid>/cgroup prints them from the host cgroup namespace.
type Container struct {
	// ID is stable for the life of the container and unique on the host: the v2 path, or on v1 and
	// hybrid the memory controller's path (the controller every container has). Caches and
	// per-container state (stat history, loadavg, switches) are keyed by it.
	ID string
	// Paths maps a v1 controller name ("memory", "cpu", "cpuacct", "cpuset", "blkio", "pids") to
	// its path. On a pure v2 host the single unified path is under the key "" .
	Paths map[string]string
	// InitPID is the host PID of the init of the caller's PID namespace, 0 for a caller in the
	// host PID namespace. InitStart is its start time in clock ticks after boot (field 22 of
	// /proc/<pid>/stat); for a host-namespace caller it is the caller's own start time.
	InitPID   int
	InitStart uint64
	// Root is true when every controller path is "/": the caller sits in the root cgroups and
	// sees the host, as in the kernel (a root cgroup is never isolated).
	Root bool
}

// Path returns the container's path for a v1 controller, or the unified path on v2.
func (c *Container) Path(controller string) (string, bool) {
	if p, ok := c.Paths[controller]; ok {
		return p, true
	}
	p, ok := c.Paths[""]
	return p, ok
}

// Memory is what /proc/meminfo, /proc/swaps and /proc/vmstat need (docs/behaviour.md §2.2). All
// values are bytes.
type Memory struct {
	// Limit is the minimum of the memory limit over the container cgroup and all its ancestors
	// (v1 memory.limit_in_bytes, v2 memory.max), Unlimited when none is set.
	Limit uint64
	// Usage is v1 memory.usage_in_bytes or v2 memory.current.
	Usage uint64
	// SwapLimit is v2 memory.swap.max (min over ancestors) or v1 (memsw limit − mem limit),
	// Unlimited when none is set. SwapUsage is v2 memory.swap.current or v1 memsw usage − usage.
	// SwapAccounted is false when the kernel does not account swap (no memsw / swap files).
	SwapLimit     uint64
	SwapUsage     uint64
	SwapAccounted bool
	// Stat is memory.stat with v2 key names: v1's hierarchical "total_<key>" lines are stored
	// under the v2 name of <key> (total_cache→file, total_rss→anon, total_rss_huge→anon_thp,
	// total_mapped_file→file_mapped, total_dirty→file_dirty, total_writeback→file_writeback,
	// everything else total_<k>→<k>). Byte counters stay bytes, event counters stay counts.
	Stat map[string]uint64
}

// CPU is what /proc/cpuinfo, /proc/stat, /proc/uptime and sys/devices/system/cpu/online need
// (docs/behaviour.md §2.3).
type CPU struct {
	// Cpuset is the effective cpuset: cpuset.cpus, else cpuset.cpus.effective, walking up while
	// empty. Sorted host CPU numbers.
	Cpuset []int
	// Quota is the minimum over the container cgroup and its ancestors of quota/period in CPUs
	// (v1 cpu.cfs_quota_us/cpu.cfs_period_us, v2 cpu.max); 0 when no level sets one.
	Quota float64
	// UserNS and SystemNS are the container's total CPU time (v1 cpuacct.usage split by the
	// ratio of cpuacct.usage_all or cpuacct.stat; v2 cpu.stat user_usec/system_usec).
	UserNS   uint64
	SystemNS uint64
}

// Visible returns how many CPUs the container sees: the cpuset's size, cut to ceil(Quota) when
// quotaView is set and a quota exists, never below 1 (docs/behaviour.md §2.3, --cpu-view).
func (c CPU) Visible(quotaView bool) int {
	n := len(c.Cpuset)
	if quotaView && c.Quota > 0 {
		if q := int(math.Ceil(c.Quota)); q < n {
			n = q
		}
	}
	return max(n, 1)
}

// Tasks counts the threads of the container (its root cgroup and every descendant), for
// /proc/loadavg and procs_running/procs_blocked of /proc/stat (docs/behaviour.md §2.3, §2.4).
type Tasks struct {
	Running int // state R
	Blocked int // state D (uninterruptible)
	Total   int // all threads
	// LastPID is the newest PID as seen inside the container's PID namespace (0 if unknown).
	LastPID int
}

// IO is the container's block I/O per device (docs/behaviour.md §2.5), from v2 io.stat or the v1
// blkio recursive counters. Devices the cgroup never touched are absent.
type IO struct {
	Devices []DeviceIO
}

// DeviceIO is one device's counters. Bytes are bytes; ops are request counts.
type DeviceIO struct {
	Major, Minor             uint32
	ReadBytes, WriteBytes    uint64
	ReadOps, WriteOps        uint64
	DiscardBytes, DiscardOps uint64
}
