package cgroupview

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
)

// maxCPUs bounds CPU numbers in a cpuset list: the kernel's NR_CPUS limit on x86-64
// (CONFIG_NR_CPUS_RANGE_END). A list naming a higher CPU is rejected, so a hostile or corrupt
// "0-4294967295" costs nothing (procfs's parseCPURange expands it unbounded).
const maxCPUs = 8192

// parseCpuset parses a cpu list as cgroupfs prints it ("0-3,5,7-8\n"; cgroup-v2.rst
// "cpuset.cpus"): sorted, duplicates removed. An empty list is an empty, non-nil slice; the
// result is nil exactly when err is not.
func parseCpuset(b []byte) ([]int, error) {
	var set [maxCPUs / 64]uint64
	b = bytes.TrimSpace(b)
	n := 0
	for len(b) > 0 {
		var item []byte
		item, b, _ = bytes.Cut(b, []byte(","))
		lo, hi, err := parseCPURange(item)
		if err != nil {
			return nil, fmt.Errorf("parse cpuset %q: %w", item, err)
		}
		for c := lo; c <= hi; c++ {
			if set[c/64]&(1<<(c%64)) == 0 {
				set[c/64] |= 1 << (c % 64)
				n++
			}
		}
	}
	cpus := make([]int, 0, n)
	for w, word := range set {
		for word != 0 {
			i := bits.TrailingZeros64(word)
			cpus = append(cpus, w*64+i)
			word &^= 1 << i
		}
	}
	return cpus, nil
}

func parseCPURange(item []byte) (lo, hi int, err error) {
	a, z, isRange := bytes.Cut(item, []byte("-"))
	if lo, err = parseCPU(a); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parseCPU(z); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, errors.New("range end before start")
	}
	return lo, hi, nil
}

func parseCPU(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 5 {
		return 0, fmt.Errorf("bad cpu number %q", b)
	}
	n, err := parseInt(b)
	if err != nil {
		return 0, err
	}
	if n >= maxCPUs {
		return 0, fmt.Errorf("cpu %d beyond %d", n, maxCPUs-1)
	}
	return n, nil
}
