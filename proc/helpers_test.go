package proc

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"procfsd/cgroupview"
)

const (
	smallHost = "debian12-2cpu"
	largeHost = "large-64cpu-swap"
	mib       = 1 << 20
	gib       = 1 << 30
)

// hostFile reads a fixture file, e.g. hostFile(t, largeHost, "meminfo").
func hostFile(tb testing.TB, host, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "hosts", host, "proc", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// keys returns the label of every line: the text before its first colon or blank
// ("MemTotal", "nr_free_pages", "cpu3"), "" for an empty line.
func keys(b []byte) []string {
	var out []string
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		line = bytes.TrimLeft(line, " \t")
		if i := bytes.IndexAny(line, ": \t\n"); i >= 0 {
			line = line[:i]
		}
		out = append(out, string(line))
	}
	return out
}

// v2Stat is a v2 memory.stat of a container using about 200 MiB.
func v2Stat() map[string]uint64 {
	return map[string]uint64{
		"anon": 100 * mib, "file": 80 * mib, "kernel_stack": 1 * mib, "pagetables": 2 * mib,
		"sec_pagetables": 0, "shmem": 4 * mib, "file_mapped": 20 * mib, "file_dirty": 1 * mib,
		"file_writeback": 256 << 10, "anon_thp": 8 * mib, "file_thp": 0, "shmem_thp": 0,
		"inactive_anon": 70 * mib, "active_anon": 34 * mib, "inactive_file": 50 * mib,
		"active_file": 30 * mib, "unevictable": 0, "slab_reclaimable": 6 * mib,
		"slab_unreclaimable": 3 * mib, "slab": 9 * mib, "swapcached": 0,
		"pgfault": 123456, "pgmajfault": 321, "workingset_refault_file": 42,
		"workingset_activate_file": 7, "pgscan": 1000, "pgsteal": 900, "pgscan_kswapd": 600,
		"pgsteal_kswapd": 550, "thp_fault_alloc": 4, "zswpin": 0,
	}
}

// v1Stat is the same container on cgroup v1, keys already renamed by cgroupview (total_rss →
// anon, total_rss_huge → anon_thp, …). v1 has no slab counters.
func v1Stat() map[string]uint64 {
	return map[string]uint64{
		"file": 80 * mib, "anon": 100 * mib, "anon_thp": 8 * mib, "shmem": 4 * mib,
		"file_mapped": 20 * mib, "file_dirty": 1 * mib, "file_writeback": 256 << 10,
		"swap": 64 * mib, "pgpgin": 50000, "pgpgout": 20000, "pgfault": 123456,
		"pgmajfault": 321, "inactive_anon": 70 * mib, "active_anon": 34 * mib,
		"inactive_file": 50 * mib, "active_file": 30 * mib, "unevictable": 0,
	}
}

func v2Memory(limit, usage uint64) cgroupview.Memory {
	return cgroupview.Memory{Limit: limit, Usage: usage, SwapLimit: cgroupview.Unlimited,
		SwapAccounted: true, Stat: v2Stat()}
}
