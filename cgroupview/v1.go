package cgroupview

import (
	"bytes"
	"fmt"
)

// cgroup v1 readers (Documentation/admin-guide/cgroup-v1/). Each takes the controller's
// location and a scratch buffer and fills part of a view.

// readMemoryV1 reads memory.{usage_in_bytes,stat} and the memsw usage (cgroup-v1/memory.rst).
// The limits are memory.stat's hierarchical_memory_limit and hierarchical_memsw_limit, the
// kernel's own minimum over the cgroup and its ancestors (mm/memcontrol-v1.c,
// memcg1_stat_format): one file instead of two limit files per level, for every cold meminfo
// read. A key the kernel does not print has its limit files walked instead. Swap is
// memsw − memory for both limit and usage; without memsw accounting (swapaccount=0: no memsw
// files, no hierarchical_memsw_limit) SwapAccounted is false.
func readMemoryV1(l loc, m *Memory, buf *[]byte) error {
	dir := l.dir()
	b, err := readFile(dir+"/memory.stat", *buf)
	*buf = b
	if err != nil {
		return err
	}
	st, err := parseMemoryStatV1(b)
	if err != nil {
		return fmt.Errorf("parse %s/memory.stat: %w", dir, err)
	}
	m.Stat = st.stat
	m.Limit = st.limit
	if !st.limitKnown {
		if m.Limit, _, err = minLimit(l, "memory.limit_in_bytes", buf); err != nil {
			return err
		}
	}
	swLimit, accounted := st.memswLimit, st.memswKnown
	if !accounted {
		if swLimit, accounted, err = minLimit(l, "memory.memsw.limit_in_bytes", buf); err != nil {
			return err
		}
	}
	if m.Usage, err = readUint(dir+"/memory.usage_in_bytes", buf); err != nil {
		return err
	}
	m.SwapLimit = Unlimited
	if !accounted {
		return nil
	}
	swUsage, err := readUint(dir+"/memory.memsw.usage_in_bytes", buf)
	if isNotExist(err) {
		return nil // the key without the files: not accounted after all
	}
	if err != nil {
		return err
	}
	m.SwapAccounted = true
	if swLimit != Unlimited {
		m.SwapLimit = swLimit - min(swLimit, m.Limit)
	}
	m.SwapUsage = swUsage - min(swUsage, m.Usage)
	return nil
}

// memoryStatV1 is a parsed v1 memory.stat.
type memoryStatV1 struct {
	stat                   map[string]uint64 // the hierarchical "total_*" keys under their v2 names (see Memory.Stat)
	limit, memswLimit      uint64            // hierarchical_memory_limit, hierarchical_memsw_limit (Unlimited for none)
	limitKnown, memswKnown bool              // whether the file had them
}

// parseMemoryStatV1 keeps the hierarchical "total_*" keys under their v2 names, and the
// hierarchical limits.
func parseMemoryStatV1(b []byte) (memoryStatV1, error) {
	ms := memoryStatV1{stat: make(map[string]uint64, 48)}
	err := forEachKV(b, func(k []byte, v uint64) error {
		switch {
		case string(k) == "hierarchical_memory_limit":
			ms.limit, ms.limitKnown = limitValue(v), true
		case string(k) == "hierarchical_memsw_limit":
			ms.memswLimit, ms.memswKnown = limitValue(v), true
		case !bytes.HasPrefix(k, []byte("total_")):
		default:
			if name, ok := v1StatKeys[string(k)]; ok {
				ms.stat[name] = v
			} else {
				ms.stat[internStat(k[len("total_"):])] = v
			}
		}
		return nil
	})
	return ms, err
}

// readQuotaV1 returns min over the cgroup and its ancestors of cpu.cfs_quota_us /
// cpu.cfs_period_us in CPUs, 0 when no level sets a quota (-1) (scheduler/sched-bwc.rst).
func readQuotaV1(l loc, buf *[]byte) (float64, error) {
	var quota float64
	err := l.walkUp(func(dir string) (bool, error) {
		b, err := readFile(dir+"/cpu.cfs_quota_us", *buf)
		*buf = b
		if err != nil {
			return true, err
		}
		q, err := parseLimit(b)
		if err != nil {
			return true, fmt.Errorf("parse %s/cpu.cfs_quota_us: %w", dir, err)
		}
		if q == Unlimited {
			return false, nil
		}
		period, err := readUint(dir+"/cpu.cfs_period_us", buf)
		if err != nil {
			return true, err
		}
		if period > 0 {
			quota = minQuota(quota, float64(q)/float64(period))
		}
		return false, nil
	})
	return quota, err
}

// minQuota is min where 0 means "none yet".
func minQuota(a, b float64) float64 {
	if a == 0 || b < a {
		return b
	}
	return a
}

// readCPUUsageV1 returns user and system nanoseconds. The total is cpuacct.usage, which the
// scheduler charges exactly at every switch; usage_all and cpuacct.stat only give the user/system
// ratio, because their columns come from the per-tick cpustat samples (kernel
// kernel/sched/cpuacct.c, cpuacct_cpuusage_read) and drift from the total by several percent over
// seconds, which would break docs/behaviour.md §2.3's 2% bound. usage_all is missing before 4.7;
// cpuacct.stat is used instead.
func readCPUUsageV1(l loc, buf *[]byte) (user, system uint64, err error) {
	dir := l.dir()
	total, err := readUint(dir+"/cpuacct.usage", buf)
	if err != nil {
		return 0, 0, err
	}
	u, s, err := cpuSplitV1(dir, buf)
	if err != nil {
		return 0, 0, err
	}
	if u+s == 0 {
		return total, 0, nil
	}
	user = uint64(float64(total) * float64(u) / float64(u+s))
	return user, total - user, nil
}

// cpuSplitV1 returns user and system in any one unit, for their ratio: cpuacct.usage_all's
// columns summed over CPUs, else cpuacct.stat's ticks.
func cpuSplitV1(dir string, buf *[]byte) (user, system uint64, err error) {
	b, err := readFile(dir+"/cpuacct.usage_all", *buf)
	*buf = b
	if err == nil {
		user, system, err = parseUsageAll(b)
		if err != nil {
			err = fmt.Errorf("parse %s/cpuacct.usage_all: %w", dir, err)
		}
		return user, system, err
	}
	if !isNotExist(err) {
		return 0, 0, err
	}
	b, err = readFile(dir+"/cpuacct.stat", *buf)
	*buf = b
	if err != nil {
		return 0, 0, err
	}
	err = forEachKV(b, func(k []byte, v uint64) error {
		switch string(k) {
		case "user":
			user = v
		case "system":
			system = v
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("parse %s/cpuacct.stat: %w", dir, err)
	}
	return user, system, nil
}

// parseUsageAll sums cpuacct.usage_all: a "cpu user system" header, then one line per CPU.
func parseUsageAll(b []byte) (user, system uint64, err error) {
	header, b := nextLine(b)
	if string(bytes.Join(bytes.Fields(header), []byte(" "))) != "cpu user system" {
		return 0, 0, fmt.Errorf("bad header %q", header)
	}
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		_, rest := cutField(line)
		uf, rest := cutField(rest)
		sf, _ := cutField(rest)
		u, err := parseUint(uf)
		if err != nil {
			return 0, 0, fmt.Errorf("line %q: %w", line, err)
		}
		s, err := parseUint(sf)
		if err != nil {
			return 0, 0, fmt.Errorf("line %q: %w", line, err)
		}
		user, system = user+u, system+s
	}
	return user, system, nil
}

// readIOV1 reads the blkio recursive counters (cgroup-v1/blkio-controller.rst): the throttle
// files, which count on every kernel, else the CFQ/BFQ-era ones. ErrNoData when none exist.
func readIOV1(l loc, buf *[]byte) (IO, error) {
	dir := l.dir()
	for _, prefix := range []string{"blkio.throttle.", "blkio."} {
		devs := devMap{}
		b, err := readFile(dir+"/"+prefix+"io_service_bytes_recursive", *buf)
		*buf = b
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return IO{}, err
		}
		if err := parseBlkio(b, devs, true); err != nil {
			return IO{}, fmt.Errorf("parse %s/%sio_service_bytes_recursive: %w", dir, prefix, err)
		}
		b, err = readFile(dir+"/"+prefix+"io_serviced_recursive", *buf)
		*buf = b
		if err != nil {
			return IO{}, err
		}
		if err := parseBlkio(b, devs, false); err != nil {
			return IO{}, fmt.Errorf("parse %s/%sio_serviced_recursive: %w", dir, prefix, err)
		}
		return sortedIO(devs), nil
	}
	return IO{}, fmt.Errorf("read %s/blkio.*io_service_bytes_recursive: %w", dir, ErrNoData)
}

// parseBlkio adds "MAJ:MIN Op value" lines into devs, as bytes or as ops. The closing
// "Total N" line and the Sync/Async/Total per-device lines are ignored.
func parseBlkio(b []byte, devs devMap, bytesFile bool) error {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		devf, rest := cutField(line)
		if len(devf) == 0 || bytes.Equal(devf, []byte("Total")) {
			continue
		}
		op, rest := cutField(rest)
		key, err := parseDev(devf)
		if err != nil {
			return fmt.Errorf("line %q: %w", line, err)
		}
		v, err := parseUint(bytes.TrimSpace(rest))
		if err != nil {
			return fmt.Errorf("line %q: %w", line, err)
		}
		d := devs.get(key)
		switch string(op) {
		case "Read":
			if bytesFile {
				d.ReadBytes = v
			} else {
				d.ReadOps = v
			}
		case "Write":
			if bytesFile {
				d.WriteBytes = v
			} else {
				d.WriteOps = v
			}
		case "Discard":
			if bytesFile {
				d.DiscardBytes = v
			} else {
				d.DiscardOps = v
			}
		}
	}
	return nil
}
