package cgroupview

import (
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// Tasks counts the threads of the container's cgroup and all its descendants (docs/behaviour.md
// §2.4): v1 "tasks" files of the cpu hierarchy (else pids, memory), v2 "cgroup.threads". Each
// thread's state is field 3 of <procRoot>/<tid>/stat; threads that exit during the scan are
// skipped. LastPID is the innermost NSpid of the highest host TID.
func (r *Reader) Tasks(c *Container) (Tasks, error) {
	buf := getBuf()
	defer putBuf(buf)
	tids, err := r.taskIDs(c, buf)
	if err != nil {
		return Tasks{}, err
	}
	a, alive := r.countStates(tids)
	return Tasks{Running: a.Running, Blocked: a.Blocked, Total: alive, LastPID: r.newestPID(tids, buf)}, nil
}

// Threads is Tasks without the states: Total and LastPID, from the task list and one
// /proc/<tid>/status read instead of a /proc/<tid>/stat read per thread. loadavg takes its running
// count from the load sampler's last count instead (fs/render.go): reading every thread's state
// would be most of a cold loadavg read's cost (docs/read-path.md, "The load sampler").
func (r *Reader) Threads(c *Container) (Tasks, error) {
	buf := getBuf()
	defer putBuf(buf)
	tids, err := r.taskIDs(c, buf)
	if err != nil {
		return Tasks{}, err
	}
	return Tasks{Total: len(tids), LastPID: r.newestPID(tids, buf)}, nil
}

// taskIDs lists the host TIDs of the container's cgroup and all its descendants.
func (r *Reader) taskIDs(c *Container, buf *[]byte) ([]int, error) {
	l, file, err := r.tasksLoc(c)
	if err != nil {
		return nil, err
	}
	var tids []int
	if err := walkTasks(l.dir(), file, buf, &tids, true); err != nil {
		return nil, fmt.Errorf("tasks of %s: %w", c.ID, err)
	}
	return tids, nil
}

// newestPID returns the innermost NSpid of the highest TID in tids whose status can be read,
// 0 if none can. Zero entries are skipped. It sorts tids.
func (r *Reader) newestPID(tids []int, buf *[]byte) int {
	slices.Sort(tids)
	for i := len(tids) - 1; i >= 0 && tids[i] > 0; i-- {
		pid, b, err := lastNSpid(r.procRoot, tids[i], *buf)
		*buf = b
		if err == nil {
			return pid
		}
	}
	return 0
}

// Activity is what a load average samples (docs/behaviour.md §2.4): the container's runnable (state
// R) and uninterruptible (state D) threads.
type Activity struct {
	Running int
	Blocked int
}

// Active is the count a load average folds in: running plus uninterruptible.
func (a Activity) Active() int { return a.Running + a.Blocked }

// Active counts the container's runnable and uninterruptible threads: Tasks without the total
// and the newest PID, which cost a /proc/<tid>/status read per sample.
func (r *Reader) Active(c *Container) (Activity, error) {
	buf := getBuf()
	defer putBuf(buf)
	tids, err := r.taskIDs(c, buf)
	if err != nil {
		return Activity{}, err
	}
	a, _ := r.countStates(tids)
	return a, nil
}

// countStates counts the runnable and uninterruptible threads among tids by field 3 of their
// <procRoot>/<tid>/stat, and the threads whose stat could be read. A thread that has exited
// (or cannot be read) is not counted, and its entry is set to 0 so it is never the newest.
func (r *Reader) countStates(tids []int) (a Activity, alive int) {
	for i, tid := range tids {
		state, err := r.threadState(tid)
		if err != nil {
			tids[i] = 0
			continue
		}
		alive++
		switch state {
		case 'R':
			a.Running++
		case 'D':
			a.Blocked++
		}
	}
	return a, alive
}

// threadState returns field 3 of the thread's own stat: <procRoot>/<tid>/task/<tid>/stat on a
// procfs. <procRoot>/<tid>/stat is the thread group's view (fs/proc/base.c proc_tgid_stat:
// do_task_stat with whole set), which walks every thread of the group to sum their counters,
// so that counting the n threads of one process would read n² threads (docs/read-path.md,
// "The load sampler"). The task entry
// (proc_tid_stat) reads the one thread. A tree that is not a procfs (tests) has <tid>/stat
// only.
func (r *Reader) threadState(tid int) (byte, error) {
	if !r.threadStat {
		state, _, err := readStat(r.procRoot, tid)
		return state, err
	}
	var pb [160]byte
	p := append(itoa(append(append(pb[:0], r.procRoot...), '/'), tid), "/task/"...)
	state, _, err := readStatPath(append(itoa(p, tid), "/stat\x00"...))
	return state, err
}

// IdleProof is what a load sampler keeps of a container's last count, so that ActiveSince can
// skip counting the threads of an idle container: one read of its run time instead of its task
// list and a /proc/<tid>/stat per thread (docs/read-path.md, "The load sampler"). The zero value is
// ready; only one goroutine at a time may use it.
type IdleProof struct {
	idle    bool   // the last count found no active thread
	known   bool   // runTime was read just before that count
	runTime uint64 // the container's run time then, in ns
	skipped int    // counts skipped since
}

// maxIdleSkips: an idle container is counted in full at least every sixth call of ActiveSince
// (30 s with the default interval).
const maxIdleSkips = 5

// ActiveSince is Active for a sampler that calls it once per interval with the same p. It
// returns no activity without counting (counted false) when p proves the container still
// idle: its last count found no runnable or uninterruptible thread, and its run time has not
// changed since that count began. A thread becomes runnable or uninterruptible only by running, which charges
// CPU time to its cgroup, or by being woken, after which it runs within the scheduler's latency
// (milliseconds; up to a CFS period while throttled). So such a container has no active thread
// now, up to one woken in those last milliseconds: as if the sample had been taken that much
// earlier (the kernel's own samples are spread over ten ticks, kernel/sched/loadavg.c). A
// thread moved in from another cgroup while blocked has not run here at all; a full count at
// least every maxIdleSkips+1 calls bounds that case.
//
// The run time is read only for a container idle at its last count (a busy one pays nothing
// more), and before counting, so that a thread running after the count began shows in the
// next comparison.
func (r *Reader) ActiveSince(c *Container, p *IdleProof) (a Activity, counted bool, err error) {
	var rt uint64
	known := false // rt was read
	if p.idle {
		var rtErr error
		rt, rtErr = r.runTime(c)
		known = rtErr == nil
		if known && p.known && rt == p.runTime && p.skipped < maxIdleSkips {
			p.skipped++
			return Activity{}, false, nil
		}
	}
	a, err = r.Active(c)
	*p = IdleProof{idle: err == nil && a.Active() == 0, known: known, runTime: rt}
	return a, true, err
}

// runTime returns the CPU time charged to the cgroup whose threads Active counts, with its
// descendants: v1 cpuacct.usage (ns), v2 cpu.stat's usage_usec (in ns, at µs resolution). It
// changes whenever one of those threads has run. ErrNoData when the time is kept elsewhere: a
// v1 cpuacct cgroup at another path than the threads' one.
func (r *Reader) runTime(c *Container) (uint64, error) {
	tl, _, err := r.tasksLoc(c)
	if err != nil {
		return 0, err
	}
	l, err := r.locate(c, "cpuacct")
	if err != nil {
		return 0, err
	}
	if l.v2 != tl.v2 || l.path != tl.path {
		return 0, fmt.Errorf("run time of %s: cpuacct at %s, threads at %s: %w", c.ID, l.path, tl.path, ErrNoData)
	}
	buf := getBuf()
	defer putBuf(buf)
	if !l.v2 {
		return readUint(l.dir()+"/cpuacct.usage", buf)
	}
	var v [1]uint64
	if err := readCPUStatV2(l, buf, []string{"usage_usec"}, v[:]); err != nil {
		return 0, err
	}
	return v[0], nil
}

// AtHostRoot reports whether c's threads are every thread of the host: the cgroup its threads are
// counted in is the root of its hierarchy, and c has no PID namespace of its own. The host's own
// counts and load averages are then exactly c's, and counting would read every thread on the host
// (docs/behaviour.md §2.4). A caller in a PID namespace is still counted: the newest PID it sees is
// its namespace's.
func (r *Reader) AtHostRoot(c *Container) bool {
	l, _, err := r.tasksLoc(c)
	return err == nil && l.path == "/" && c.InitPID == 0
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
	// allocations, for the common leaf container, on the load sampler's path.
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
