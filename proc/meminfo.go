package proc

import (
	"bytes"
	"fmt"
	"math"

	"procfsd/cgroupview"
)

// /proc/meminfo (kernel fs/proc/meminfo.c, meminfo_proc_show). docs/behaviour.md §2.2: the host
// file is kept line for line and only the lines the memory cgroup accounts are replaced:
//
//	MemTotal     = min(limit, host MemTotal)       (an unlimited cgroup sees the host's RAM)
//	MemFree      = max(0, MemTotal − usage)        (LXCFS underflows here, lxc/lxcfs#389)
//	MemAvailable = min(MemTotal, MemFree + active_file + inactive_file + slab_reclaimable)
//	Buffers, SwapCached = 0                        (no per-cgroup figure exists)
//	the rest     = memory.stat by exact key        (LXCFS's prefix matching zeroes Mapped, Dirty
//	                                                and Writeback on v2 and AnonHugePages on v1)
//
// A key that memory.stat lacks on the running kernel (v1 has no slab counters, old kernels no
// anon_thp) shows 0, as the kernel's own cgroup-aware meminfo and LXCFS do. Keeping the host's line
// instead misleads: free(1) adds SReclaimable to buff/cache, so an idle v1 container would show the
// host's slab as its own cache. MemAvailable likewise counts a missing term as 0.

// meminfoWidth is the width of show_val_kb's value field (seq_put_decimal_ull_width(…, 8)).
const meminfoWidth = 8

// memView holds the figures of one rendering, in bytes.
type memView struct {
	stat                map[string]uint64
	total, free         uint64
	swapTotal, swapFree uint64
}

// memField computes one meminfo line in bytes; false when memory.stat lacks the key.
type memField func(v *memView) (uint64, bool)

var meminfoFields = map[string]memField{
	"MemTotal":       func(v *memView) (uint64, bool) { return v.total, true },
	"MemFree":        func(v *memView) (uint64, bool) { return v.free, true },
	"MemAvailable":   (*memView).available,
	"Buffers":        zero,
	"SwapCached":     zero,
	"SwapTotal":      func(v *memView) (uint64, bool) { return v.swapTotal, true },
	"SwapFree":       func(v *memView) (uint64, bool) { return v.swapFree, true },
	"Cached":         stat("file"),
	"Active":         stat("active_anon", "active_file"),
	"Inactive":       stat("inactive_anon", "inactive_file"),
	"Active(anon)":   stat("active_anon"),
	"Inactive(anon)": stat("inactive_anon"),
	"Active(file)":   stat("active_file"),
	"Inactive(file)": stat("inactive_file"),
	"Unevictable":    stat("unevictable"),
	"Dirty":          stat("file_dirty"),
	"Writeback":      stat("file_writeback"),
	"AnonPages":      stat("anon"),
	"Mapped":         stat("file_mapped"),
	"Shmem":          stat("shmem"),
	"AnonHugePages":  stat("anon_thp"),
	"Slab":           firstOf(stat("slab"), stat("slab_reclaimable", "slab_unreclaimable")),
	"SReclaimable":   stat("slab_reclaimable"),
	"SUnreclaim":     stat("slab_unreclaimable"),
}

// RenderMeminfo appends the container's /proc/meminfo, computed from the host's file and m.
func RenderMeminfo(w *bytes.Buffer, host []byte, m cgroupview.Memory) error {
	hostTotal, ok := HostValue(host, "MemTotal")
	if _, kB, _ := findKV(host, "MemTotal"); !ok || !kB {
		return fmt.Errorf("parse meminfo: no MemTotal line in kB: %w", errMalformed)
	}
	hostSwap, _ := HostValue(host, "SwapTotal") // absent without CONFIG_SWAP: no swap
	v := newMemView(m, hostTotal, hostSwap)
	return rewriteKV(w, host, "meminfo", meminfoWidth, func(key []byte, kb uint64) (uint64, bool) {
		f, ok := meminfoFields[string(key)]
		if !ok {
			return 0, false
		}
		b, _ := f(&v) // a missing key is 0
		return b / 1024, true
	})
}

func newMemView(m cgroupview.Memory, hostTotal, hostSwap uint64) memView {
	v := memView{stat: m.Stat, total: min(m.Limit, hostTotal)}
	v.free = v.total - min(v.total, m.Usage)
	v.swapTotal, v.swapFree = swapFigures(hostSwap, m)
	return v
}

// swapFigures is docs/behaviour.md §2.2's SwapTotal = min(host SwapTotal, swap limit), SwapFree =
// max(0, SwapTotal − swap used); both 0 when the kernel does not account swap per cgroup.
func swapFigures(hostSwap uint64, m cgroupview.Memory) (total, free uint64) {
	if !m.SwapAccounted {
		return 0, 0
	}
	total = min(hostSwap, m.SwapLimit)
	return total, total - min(total, m.SwapUsage)
}

func (v *memView) available() (uint64, bool) {
	a := v.free
	for _, k := range [...]string{"active_file", "inactive_file", "slab_reclaimable"} {
		a += min(v.stat[k], math.MaxUint64-a) // saturate: figures are untrusted input
	}
	return min(a, v.total), true
}

func zero(*memView) (uint64, bool) { return 0, true }

// stat sums memory.stat keys; it is false if any is missing.
func stat(keys ...string) memField {
	return func(v *memView) (uint64, bool) {
		var sum uint64
		for _, k := range keys {
			x, ok := v.stat[k]
			if !ok {
				return 0, false
			}
			sum += x
		}
		return sum, true
	}
}

func firstOf(fs ...memField) memField {
	return func(v *memView) (uint64, bool) {
		for _, f := range fs {
			if x, ok := f(v); ok {
				return x, true
			}
		}
		return 0, false
	}
}
