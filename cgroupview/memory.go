package cgroupview

import "fmt"

// Memory returns the container's memory view (docs/behaviour.md §2.2): the limit as the minimum
// over the container cgroup and all its ancestors, usage, swap and memory.stat with v2 key names.
func (r *Reader) Memory(c *Container) (Memory, error) {
	l, err := r.locate(c, "memory")
	if err != nil {
		return Memory{}, err
	}
	buf := getBuf()
	defer putBuf(buf)
	var m Memory
	if l.v2 {
		err = readMemoryV2(l, &m, buf)
	} else {
		err = readMemoryV1(l, &m, buf)
	}
	if err != nil {
		return Memory{}, fmt.Errorf("memory of %s: %w", c.ID, err)
	}
	return m, nil
}

// minLimit returns the minimum of the limit file name over l's cgroup and its ancestors.
// Levels without the file (the v2 root, a v2 cgroup whose parent does not delegate the
// controller) set no limit; any other failure is an error. found reports whether the cgroup
// itself has the file.
func minLimit(l loc, name string, buf *[]byte) (limit uint64, found bool, err error) {
	limit = Unlimited
	self := l.dir()
	err = l.walkUp(func(dir string) (bool, error) {
		b, err := readFile(dir+"/"+name, *buf)
		*buf = b
		if isNotExist(err) {
			return false, nil
		}
		if err != nil {
			return true, err
		}
		v, err := parseLimit(b)
		if err != nil {
			return true, fmt.Errorf("parse %s/%s: %w", dir, name, err)
		}
		found = found || dir == self
		limit = min(limit, v)
		return false, nil
	})
	return limit, found, err
}

// readUint reads a one-number file.
func readUint(path string, buf *[]byte) (uint64, error) {
	b, err := readFile(path, *buf)
	*buf = b
	if err != nil {
		return 0, err
	}
	v, err := parseUint(trimNL(b))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// v1StatKeys maps v1 memory.stat "total_<key>" (hierarchical) names to their v2 names
// (Documentation/admin-guide/cgroup-v1/memory.rst §5.2, cgroup-v2.rst "memory.stat"). Keys not
// listed map to themselves without the "total_" prefix. Matching is by whole key, never prefix.
var v1StatKeys = map[string]string{
	"total_cache":       "file",
	"total_rss":         "anon",
	"total_rss_huge":    "anon_thp",
	"total_mapped_file": "file_mapped",
	"total_dirty":       "file_dirty",
	"total_writeback":   "file_writeback",
}

// statNames interns the memory.stat key names a renderer uses, so parsing a known key does not
// allocate a string.
var statNames = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"anon", "file", "kernel", "kernel_stack", "pagetables", "sec_pagetables", "percpu", "sock",
		"vmalloc", "shmem", "zswap", "zswapped", "file_mapped", "file_dirty", "file_writeback",
		"swapcached", "anon_thp", "file_thp", "shmem_thp", "inactive_anon", "active_anon",
		"inactive_file", "active_file", "unevictable", "slab_reclaimable", "slab_unreclaimable",
		"slab", "workingset_refault_anon", "workingset_refault_file", "workingset_activate_anon",
		"workingset_activate_file", "workingset_restore_anon", "workingset_restore_file",
		"workingset_nodereclaim", "pgscan", "pgsteal", "pgscan_kswapd", "pgscan_direct",
		"pgscan_khugepaged", "pgsteal_kswapd", "pgsteal_direct", "pgsteal_khugepaged", "pgfault",
		"pgmajfault", "pgrefill", "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed",
		"thp_fault_alloc", "thp_collapse_alloc", "pgpgin", "pgpgout", "swap", "mapped_file",
		"cache", "rss", "rss_huge", "dirty", "writeback", "hierarchical_memory_limit",
		"hierarchical_memsw_limit",
	} {
		m[k] = k
	}
	return m
}()

func internStat(k []byte) string {
	if s, ok := statNames[string(k)]; ok {
		return s
	}
	return string(k)
}
