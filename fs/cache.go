package fs

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"procfsd/cgroupview"
)

// Staleness bounds of the render path (docs/read-path.md, "Staleness bounds"). Reads come in bursts
// (a `top` refresh reads five files, eight threads of a JVM read meminfo together), and one
// computation per container per bound serves the whole burst. Every bound is far below what a
// reader can tell apart: `free` and `top` print memory in kB and CPU shares over seconds.
const (
	// hostTTL bounds the age of a host file (/proc/meminfo, stat, cpuinfo, vmstat, ...).
	// Passed-through counters (ctxt, intr, processes) stay monotonic: a refresh only replaces a
	// snapshot with a newer one (hostEntry).
	hostTTL = 20 * time.Millisecond
	// memTTL bounds the age of a container's memory view (limit, usage, swap, memory.stat).
	memTTL = 50 * time.Millisecond
	// cpuTTL bounds the age of its CPU view (cpuset, quota, CPU time). CPU time enters /proc/stat,
	// whose advance over any interval must match the cgroup's within 2% (docs/behaviour.md §2.3): 20
	// ms is 0.5% of a 4 s interval at full use of a CPU. CPUClock keeps the lines monotonic whatever
	// the age of its inputs, as long as they do not go back, and a cached view is only ever replaced
	// by a newer one.
	cpuTTL = 20 * time.Millisecond
	// tasksTTL bounds the age of the thread counts in loadavg's 4th field and stat's
	// procs_running/procs_blocked. A count is a scan of every thread of the container (a
	// /proc/<tid>/stat read each); LXCFS serves its loadavg counts up to 5 s old.
	tasksTTL = 100 * time.Millisecond
	// viewIdle is how long an unread container's views are kept.
	viewIdle = 10 * time.Second
)

// renderCache is the server's cache of host files and container views. The zero value is
// ready. No lock is global: each host file and each container view has its own, held while
// that one input is read so that concurrent readers wait for one computation instead of
// repeating it.
type renderCache struct {
	hosts     sync.Map // path → *hostEntry
	views     sync.Map // container ID → *viewEntry
	lastSweep atomic.Int64
}

// hostEntry is one host file's latest snapshot. Snapshots are immutable and shared by every
// render that uses them.
type hostEntry struct {
	mu   sync.Mutex // serialises refreshes, so a snapshot is only replaced by a newer one
	snap atomic.Pointer[snapshot[[]byte]]
}

type snapshot[T any] struct {
	v  T
	at time.Time
}

func fresh[T any](s *snapshot[T], ttl time.Duration, now time.Time) bool {
	return s != nil && now.Sub(s.at) < ttl
}

// hostFile returns the file at path, read at most hostTTL ago. miss is called before a read.
func (rc *renderCache) hostFile(path string, miss func(), read func(string) ([]byte, error)) ([]byte, error) {
	v, ok := rc.hosts.Load(path)
	if !ok {
		v, _ = rc.hosts.LoadOrStore(path, &hostEntry{})
	}
	e := v.(*hostEntry)
	if s := e.snap.Load(); fresh(s, hostTTL, time.Now()) {
		return s.v, nil
	}
	miss()
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.snap.Load(); fresh(s, hostTTL, time.Now()) {
		return s.v, nil // refreshed while this reader waited
	}
	b, err := read(path)
	if err != nil {
		return nil, err
	}
	e.snap.Store(&snapshot[[]byte]{v: b, at: time.Now()})
	return b, nil
}

// viewEntry is one container's cached views. Each view has its own lock and is replaced only
// by a newer one. Memory.Stat maps and CPU.Cpuset slices are shared read-only.
type viewEntry struct {
	paths    atomic.Pointer[map[string]string] // the container's cgroups the views were read from
	lastUsed atomic.Int64

	memMu sync.Mutex
	mem   atomic.Pointer[snapshot[cgroupview.Memory]]
	cpuMu sync.Mutex
	cpu   atomic.Pointer[snapshot[cgroupview.CPU]]
	tskMu sync.Mutex
	tasks atomic.Pointer[snapshot[cgroupview.Tasks]]
	thrMu sync.Mutex
	thr   atomic.Pointer[snapshot[cgroupview.Tasks]] // Threads: total and newest PID only
}

// view returns c's entry. An entry read from other cgroups under the same ID (a process moved
// in one v1 hierarchy only) is emptied first.
func (rc *renderCache) view(c *cgroupview.Container, now time.Time) *viewEntry {
	v, ok := rc.views.Load(c.ID)
	if !ok {
		e := &viewEntry{}
		e.paths.Store(&c.Paths)
		v, _ = rc.views.LoadOrStore(c.ID, e)
		rc.maybeSweep(now)
	}
	e := v.(*viewEntry)
	if p := e.paths.Load(); *p == nil || !sameMap(*p, c.Paths) {
		e.mem.Store(nil)
		e.cpu.Store(nil)
		e.tasks.Store(nil)
		e.thr.Store(nil)
		e.paths.Store(&c.Paths)
	}
	e.lastUsed.Store(now.UnixNano())
	return e
}

// sameMap compares Paths maps: equal most often because they are the same map (one Resolve
// serves a process for seconds), else by content.
func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// maybeSweep drops the views of containers unread for viewIdle, at most once per viewIdle.
func (rc *renderCache) maybeSweep(now time.Time) {
	last := rc.lastSweep.Load()
	if now.UnixNano()-last < int64(viewIdle) || !rc.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	rc.views.Range(func(k, v any) bool {
		if now.UnixNano()-v.(*viewEntry).lastUsed.Load() > int64(viewIdle) {
			rc.views.Delete(k)
		}
		return true
	})
}

// cached returns the snapshot in p if younger than ttl, else computes one under mu.
func cached[T any](mu *sync.Mutex, p *atomic.Pointer[snapshot[T]], ttl time.Duration, now time.Time, miss func(), compute func() (T, error)) (T, error) {
	if s := p.Load(); fresh(s, ttl, now) {
		return s.v, nil
	}
	miss()
	mu.Lock()
	defer mu.Unlock()
	if s := p.Load(); fresh(s, ttl, time.Now()) {
		return s.v, nil
	}
	v, err := compute()
	if err != nil {
		var zero T
		return zero, err
	}
	p.Store(&snapshot[T]{v: v, at: time.Now()})
	return v, nil
}

func (r *renderCtx) memory() (cgroupview.Memory, error) {
	e := r.srv.cache.view(r.c, time.Now())
	return cached(&e.memMu, &e.mem, memTTL, time.Now(), r.srv.mayBlock, func() (cgroupview.Memory, error) { return r.srv.cgroups.Memory(r.c) })
}

func (r *renderCtx) cpu() (cgroupview.CPU, error) {
	e := r.srv.cache.view(r.c, time.Now())
	return cached(&e.cpuMu, &e.cpu, cpuTTL, time.Now(), r.srv.mayBlock, func() (cgroupview.CPU, error) { return r.srv.cgroups.CPU(r.c) })
}

func (r *renderCtx) tasks() (cgroupview.Tasks, error) {
	e := r.srv.cache.view(r.c, time.Now())
	return cached(&e.tskMu, &e.tasks, tasksTTL, time.Now(), r.srv.mayBlock, func() (cgroupview.Tasks, error) { return r.srv.cgroups.Tasks(r.c) })
}

// threads is tasks without the states (cgroupview.Threads), for loadavg.
func (r *renderCtx) threads() (cgroupview.Tasks, error) {
	e := r.srv.cache.view(r.c, time.Now())
	return cached(&e.thrMu, &e.thr, tasksTTL, time.Now(), r.srv.mayBlock, func() (cgroupview.Tasks, error) { return r.srv.cgroups.Threads(r.c) })
}

// readHostFile is the uncached read behind renderCtx.host.
func readHostFile(path string) ([]byte, error) {
	b, err := readFileNoStat(path)
	if err != nil {
		return nil, fmt.Errorf("read host %s: %w", path, err)
	}
	return b, nil
}
