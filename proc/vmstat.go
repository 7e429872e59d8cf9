package proc

import (
	"bytes"
	"fmt"

	"procfsd/cgroupview"
)

// /proc/vmstat (kernel mm/vmstat.c, vmstat_show: "%s %lu\n"). docs/behaviour.md §2.2: the counters
// the memory cgroup accounts come from memory.stat, nr_free_pages is the container's MemFree,
// everything else (zone, NUMA, compaction, … counters) passes through, in the host's line set and
// order.
//
// Gauges are converted from memory.stat bytes to vmstat units (vmCounters). Event counters need
// no table: mm/memcontrol.c reports them under their vmstat names (memcg_vm_event_stat: pgfault,
// pgmajfault, pgscan_*, pgsteal_*, workingset_*, thp_*, …), so a non-"nr_" vmstat key that
// memory.stat also has is copied as is. v1's pgpgin/pgpgout (total_pgpgin → pgpgin) count pages
// charged rather than kB read; docs/behaviour.md §2.2 lists them, so they follow the same rule.
//
// A gauge memory.stat lacks keeps the host line, capped at the limit in pages, as in meminfo.
// The host MemTotal is not an input here, so an unlimited cgroup keeps the host nr_free_pages.

// vmUnit converts a memory.stat byte counter to a vmstat unit, given the page size.
type vmUnit func(bytes, pageSize uint64) uint64

func inPages(b, pageSize uint64) uint64 { return b / pageSize }

// inTHPs counts PMD-sized huge pages, as vmstat_start divides by HPAGE_PMD_NR: a PMD maps one
// page-table page of 8-byte entries, pageSize/8 pages (512 × 4 KiB = 2 MiB on x86-64).
func inTHPs(b, pageSize uint64) uint64 { return b / (pageSize * (pageSize / 8)) }

// inKB: nr_kernel_stack is printed in kB (NR_KERNEL_STACK_KB).
func inKB(b, _ uint64) uint64 { return b / 1024 }

type vmCounter struct {
	stat string
	unit vmUnit
}

var vmCounters = map[string]vmCounter{
	"nr_inactive_anon":              {"inactive_anon", inPages},
	"nr_active_anon":                {"active_anon", inPages},
	"nr_inactive_file":              {"inactive_file", inPages},
	"nr_active_file":                {"active_file", inPages},
	"nr_unevictable":                {"unevictable", inPages},
	"nr_zone_inactive_anon":         {"inactive_anon", inPages},
	"nr_zone_active_anon":           {"active_anon", inPages},
	"nr_zone_inactive_file":         {"inactive_file", inPages},
	"nr_zone_active_file":           {"active_file", inPages},
	"nr_zone_unevictable":           {"unevictable", inPages},
	"nr_slab_reclaimable":           {"slab_reclaimable", inPages},
	"nr_slab_unreclaimable":         {"slab_unreclaimable", inPages},
	"nr_anon_pages":                 {"anon", inPages},
	"nr_mapped":                     {"file_mapped", inPages},
	"nr_file_pages":                 {"file", inPages},
	"nr_dirty":                      {"file_dirty", inPages},
	"nr_writeback":                  {"file_writeback", inPages},
	"nr_shmem":                      {"shmem", inPages},
	"nr_swapcached":                 {"swapcached", inPages},
	"nr_page_table_pages":           {"pagetables", inPages},
	"nr_sec_page_table_pages":       {"sec_pagetables", inPages},
	"nr_kernel_stack":               {"kernel_stack", inKB},
	"nr_anon_transparent_hugepages": {"anon_thp", inTHPs},
	"nr_file_hugepages":             {"file_thp", inTHPs},
	"nr_shmem_hugepages":            {"shmem_thp", inTHPs},
}

// RenderVmstat appends the container's /proc/vmstat. pageSize is the host's (os.Getpagesize).
func RenderVmstat(w *bytes.Buffer, host []byte, m cgroupview.Memory, pageSize uint64) error {
	if pageSize < 512 || pageSize > 1<<20 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("render vmstat: page size %d: %w", pageSize, errMalformed)
	}
	limit := m.Limit / pageSize
	return rewriteKV(w, host, "vmstat", 0, func(key []byte, hostVal uint64) (uint64, bool) {
		// Gauges are the "nr_" keys, event counters the others: one map lookup per line, not
		// two (about 180 lines).
		if !bytes.HasPrefix(key, []byte("nr_")) {
			v, ok := m.Stat[string(key)]
			return v, ok
		}
		if c, ok := vmCounters[string(key)]; ok {
			if b, ok := m.Stat[c.stat]; ok {
				return c.unit(b, pageSize), true
			}
			return min(hostVal, limit), hostVal > limit
		}
		if string(key) == "nr_free_pages" {
			return (m.Limit - min(m.Limit, m.Usage)) / pageSize, m.Limit != cgroupview.Unlimited
		}
		return 0, false
	})
}
