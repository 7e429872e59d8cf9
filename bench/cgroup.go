package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupRoot is where the host's hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// namePrefix marks every cgroup, mount and directory the harness makes, so a later run can find
// and remove what an interrupted one left behind.
const namePrefix = "procfsd-bench-"

// hierarchies returns the directories a container cgroup is made in: every mounted v1
// controller hierarchy, or on a pure v2 host the unified root. v2 is detected by the root's
// cgroup.controllers file (a v1 host has a tmpfs there).
func hierarchies() (dirs []string, v2 bool, err error) {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		return []string{cgroupRoot}, true, nil
	}
	for _, c := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "freezer", "devices"} {
		d := filepath.Join(cgroupRoot, c)
		if _, err := os.Stat(filepath.Join(d, "cgroup.procs")); err == nil {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		return nil, false, fmt.Errorf("find cgroup hierarchies under %s: none mounted", cgroupRoot)
	}
	return dirs, false, nil
}

// cgLimits are what a container cgroup is created with.
type cgLimits struct {
	memory int64  // bytes; 0 leaves it unlimited
	cpus   string // cpuset; "" inherits
	quota  int64  // CFS quota in µs per period; 0 leaves none
	period int64  // CFS period in µs; 0 is 100 ms
}

func (l cgLimits) periodUs() int64 {
	if l.period > 0 {
		return l.period
	}
	return 100000
}

// makeCgroup creates rel (e.g. "/procfsd-bench-ab12/c0") in every hierarchy with l. Parents
// are created as needed; v1 cpuset parents get the root's cpus and mems.
func makeCgroup(rel string, l cgLimits) error {
	dirs, v2, err := hierarchies()
	if err != nil {
		return err
	}
	for _, h := range dirs {
		if err := mkdirCgroup(h, rel, v2); err != nil {
			return err
		}
		d := filepath.Join(h, rel)
		switch {
		case v2:
			if l.memory > 0 {
				err = write(d, "memory.max", strconv.FormatInt(l.memory, 10))
			}
			if err == nil && l.cpus != "" {
				err = write(d, "cpuset.cpus", l.cpus)
			}
			if err == nil && l.quota > 0 {
				err = write(d, "cpu.max", fmt.Sprintf("%d %d", l.quota, l.periodUs()))
			}
		case filepath.Base(h) == "memory" && l.memory > 0:
			err = write(d, "memory.limit_in_bytes", strconv.FormatInt(l.memory, 10))
		case filepath.Base(h) == "cpuset" && l.cpus != "":
			err = write(d, "cpuset.cpus", l.cpus)
		case filepath.Base(h) == "cpu" && l.quota > 0:
			if err = write(d, "cpu.cfs_period_us", strconv.FormatInt(l.periodUs(), 10)); err == nil {
				err = write(d, "cpu.cfs_quota_us", strconv.FormatInt(l.quota, 10))
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func mkdirCgroup(h, rel string, v2 bool) error {
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	d := h
	for i, p := range parts {
		parent := d
		d = filepath.Join(d, p)
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", d, err)
		}
		switch {
		case v2 && i < len(parts)-1:
			// Inner nodes delegate the controllers a container needs (as container managers do).
			for _, c := range []string{"cpu", "cpuset", "memory", "io", "pids"} {
				write(parent, "cgroup.subtree_control", "+"+c) // best effort: a controller may be absent
				write(d, "cgroup.subtree_control", "+"+c)
			}
		case !v2 && filepath.Base(h) == "cpuset":
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if b, _ := os.ReadFile(filepath.Join(d, f)); len(strings.TrimSpace(string(b))) > 0 {
					continue
				}
				b, err := os.ReadFile(filepath.Join(parent, f))
				if err != nil {
					return fmt.Errorf("read %s/%s: %w", parent, f, err)
				}
				if err := write(d, f, strings.TrimSpace(string(b))); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func write(dir, file, val string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(val), 0o644); err != nil {
		return fmt.Errorf("write %q to %s/%s: %w", val, dir, file, err)
	}
	return nil
}

// joinCgroup moves pid into rel in every hierarchy.
func joinCgroup(rel string, pid int) error {
	dirs, _, err := hierarchies()
	if err != nil {
		return err
	}
	for _, h := range dirs {
		if err := write(filepath.Join(h, rel), "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// removeTree kills every process left in the top-level cgroup top (e.g. "/procfsd-bench-ab12")
// and removes it with its descendants, deepest first, in every hierarchy.
func removeTree(top string) error {
	dirs, _, err := hierarchies()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range dirs {
		root := filepath.Join(h, top)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		var cgs []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				cgs = append(cgs, p)
			}
			return nil
		})
		for i := len(cgs) - 1; i >= 0; i-- {
			if err := killAndRemove(cgs[i]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// killAndRemove SIGKILLs the cgroup's processes and removes it once they are gone (rmdir fails
// with EBUSY until then), polling with a deadline.
func killAndRemove(dir string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanStale removes the cgroups an interrupted run left (every top-level procfsd-bench-*).
func cleanStale() error {
	dirs, _, err := hierarchies()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, h := range dirs {
		ents, _ := os.ReadDir(h)
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), namePrefix) {
				seen["/"+e.Name()] = true
			}
		}
	}
	var errs []error
	for top := range seen {
		errs = append(errs, removeTree(top))
	}
	return errors.Join(errs...)
}
