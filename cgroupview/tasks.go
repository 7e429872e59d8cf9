package cgroupview

import (
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// Tasks counts the threads of the container's cgroup and all its descendants (SPEC §2.4): v1
// "tasks" files of the cpu hierarchy (else pids, memory), v2 "cgroup.threads". Each thread's
// state is field 3 of <procRoot>/<tid>/stat; threads that exit during the scan are skipped.
// LastPID is the innermost NSpid of the highest host TID.
func (r *Reader) Tasks(c *Container) (Tasks, error) {
	l, file, err := r.tasksLoc(c)
	if err != nil {
		return Tasks{}, err
	}
	buf := getBuf()
	defer putBuf(buf)
	var tids []int
	if err := walkTasks(l.dir(), file, buf, &tids, true); err != nil {
		return Tasks{}, fmt.Errorf("tasks of %s: %w", c.ID, err)
	}
	var t Tasks
	for i := 0; i < len(tids); i++ {
		state, _, err := readStat(r.procRoot, tids[i])
		if err != nil {
			tids[i] = 0 // gone (or unreadable): not counted, never the newest
			continue
		}
		t.Total++
		switch state {
		case 'R':
			t.Running++
		case 'D':
			t.Blocked++
		}
	}
	slices.Sort(tids)
	for i := len(tids) - 1; i >= 0 && tids[i] > 0; i-- {
		if pid, b, err := lastNSpid(r.procRoot, tids[i], *buf); err == nil {
			t.LastPID = pid
			break
		} else {
			*buf = b
		}
	}
	return t, nil
}

// Active counts the container's runnable and uninterruptible threads (states R and D), what a
// load average samples (SPEC §2.4): Tasks without the total and the newest PID, which cost a
// /proc/<tid>/status read per sample.
func (r *Reader) Active(c *Container) (int, error) {
	l, file, err := r.tasksLoc(c)
	if err != nil {
		return 0, err
	}
	buf := getBuf()
	defer putBuf(buf)
	var tids []int
	if err := walkTasks(l.dir(), file, buf, &tids, true); err != nil {
		return 0, fmt.Errorf("tasks of %s: %w", c.ID, err)
	}
	n := 0
	for _, tid := range tids {
		if state, _, err := readStat(r.procRoot, tid); err == nil && (state == 'R' || state == 'D') {
			n++
		}
	}
	return n, nil
}

func (r *Reader) tasksLoc(c *Container) (loc, string, error) {
	for _, ctrl := range []string{"cpu", "pids", "memory"} {
		if _, ok := r.v1[ctrl]; ok {
			if l, err := r.locate(c, ctrl); err == nil && !l.v2 {
				return l, "tasks", nil
			}
		}
	}
	l, err := r.locate(c, "")
	if err != nil {
		return loc{}, "", err
	}
	if !l.v2 {
		return loc{}, "", fmt.Errorf("tasks of %s: %w", c.ID, ErrNoData)
	}
	return l, "cgroup.threads", nil
}

// walkTasks appends the TIDs listed in dir/file and in every descendant cgroup. A cgroup removed
// during the walk is skipped, except the top one.
func walkTasks(dir, file string, buf *[]byte, tids *[]int, top bool) error {
	b, err := readFile(dir+"/"+file, *buf)
	*buf = b
	if err != nil {
		if !top && isNotExist(err) {
			return nil
		}
		return err
	}
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			continue
		}
		tid, err := parseInt(line)
		if err != nil {
			return fmt.Errorf("parse %s/%s: %w", dir, file, err)
		}
		*tids = append(*tids, tid)
	}
	// A directory's link count is 2 plus its subdirectories (kernfs, like ext4 and tmpfs), so
	// 2 means no child cgroups: one stat instead of an open, a getdents and the entries'
	// allocations, for the common leaf container (issue 6: loadavg sampling cost).
	var st unix.Stat_t
	if unix.Stat(dir, &st) == nil && st.Nlink == 2 {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		if !top && isNotExist(err) {
			return nil
		}
		return fmt.Errorf("open %s: %w", dir, err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil && !(isNotExist(err) && !top) {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := walkTasks(dir+"/"+e.Name(), file, buf, tids, false); err != nil {
				return err
			}
		}
	}
	return nil
}
