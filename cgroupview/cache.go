package cgroupview

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Cache bounds. A FUSE open resolves its caller, so the cache holds the processes that opened a
// virtual file in the last resolveTTL: thousands, not millions.
const (
	resolveTTL    = 2 * time.Second // a process moved to another cgroup is seen after at most this
	maxResolved   = 16384
	maxNamespaces = 4096
	// maxPidfds bounds the descriptors the cache holds; entries beyond it are checked by
	// start time instead. Go raises RLIMIT_NOFILE's soft limit to the hard one at start
	// (usually 524288 under systemd); 4096 leaves room under even a 20000 hard limit.
	maxPidfds = 4096
)

// resolveCache maps a host PID (TID) to its resolved container. An entry is only returned for the
// same process (docs/behaviour.md §2.1: an entry never outlives its process, even when the PID is
// reused) and while younger than ttl. The same process is proven one of two ways:
//   - a pidfd opened when the entry was made (pidfds: procRoot is the daemon's own /proc): a
//     pidfd pins the process, not the number, and pidfd_send_signal(0) fails with ESRCH once
//     the process has exited, so a live answer means the number still belongs to it. This is
//     one system call instead of a read of /proc/<pid>/stat (docs/read-path.md);
//   - else the start time read by the caller equals the one recorded.
//
// An expired entry of the same process can be renewed for another ttl until it is twice ttl
// old, by a caller that finds the process's cgroups as they were (renewable, renew; resolve.go):
// a monitoring agent that reads every second outlives its entry at every other read.
//
// Entries older than twice ttl, which include every dead process's, are swept at least every
// ttl and whenever the map is full; if a sweep leaves it full, arbitrary entries go (they are only
// re-resolved). Descriptors are closed only under the write lock, and checked under the read
// lock, so a check never uses a number closed and reused meanwhile. No file I/O happens under mu.
type resolveCache struct {
	mu        sync.RWMutex
	ttl       time.Duration
	max       int
	pidfds    bool             // set once by New, before any use
	entries   map[int]resolved // guarded by mu
	held      int              // descriptors held; guarded by mu
	lastSweep time.Time        // guarded by mu
}

type resolved struct {
	start uint64
	at    time.Time
	c     *Container
	pidfd int    // -1: none
	sum   uint64 // cgroupSum when the entry was made; 0: not renewable
}

func newResolveCache(ttl time.Duration, max int) *resolveCache {
	return &resolveCache{ttl: ttl, max: max, entries: make(map[int]resolved)}
}

// alive returns pid's container if its entry holds a pidfd whose process still runs.
func (rc *resolveCache) alive(pid int, now time.Time) (*Container, bool) {
	if !rc.pidfds {
		return nil, false
	}
	rc.mu.RLock()
	defer rc.mu.RUnlock()
	e, ok := rc.entries[pid]
	if !ok || e.pidfd < 0 || now.Sub(e.at) >= rc.ttl {
		return nil, false
	}
	if err := unix.PidfdSendSignal(e.pidfd, 0, nil, 0); err != nil {
		return nil, false
	}
	return e.c, true
}

func (rc *resolveCache) get(pid int, start uint64, now time.Time) (*Container, bool) {
	rc.mu.RLock()
	e, ok := rc.entries[pid]
	rc.mu.RUnlock()
	if !ok || e.start != start || now.Sub(e.at) >= rc.ttl {
		return nil, false
	}
	return e.c, true
}

// renewable returns the container and cgroup sum of pid's entry for the process that started at
// start, if the entry has expired but is younger than twice the ttl.
func (rc *resolveCache) renewable(pid int, start uint64, now time.Time) (*Container, uint64, bool) {
	rc.mu.RLock()
	e, ok := rc.entries[pid]
	rc.mu.RUnlock()
	age := now.Sub(e.at)
	if !ok || e.start != start || e.sum == 0 || age < rc.ttl || age >= 2*rc.ttl {
		return nil, 0, false
	}
	return e.c, e.sum, true
}

// renew serves pid's entry for c for another ttl from now, if it is still there.
func (rc *resolveCache) renew(pid int, start uint64, c *Container, now time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if e, ok := rc.entries[pid]; ok && e.start == start && e.c == c {
		e.at = now
		rc.entries[pid] = e
	}
}

// pidfdThread is PIDFD_THREAD (Linux 6.9): a pidfd for a thread, not only a thread group
// leader. FUSE requests carry the thread's ID.
const pidfdThread = unix.O_EXCL

// open returns a pidfd for pid, or -1 (no pidfds here, too many held, or a kernel without
// pidfd_open or PIDFD_THREAD for a non-leader thread).
func (rc *resolveCache) open(pid int) int {
	if !rc.pidfds {
		return -1
	}
	rc.mu.RLock()
	full := rc.held >= maxPidfds
	rc.mu.RUnlock()
	if full {
		return -1
	}
	fd, err := unix.PidfdOpen(pid, pidfdThread)
	if err == unix.EINVAL {
		fd, err = unix.PidfdOpen(pid, 0) // before Linux 6.9: leaders only
	}
	if err != nil {
		return -1
	}
	unix.CloseOnExec(fd)
	return fd
}

func closePidfd(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// put records c for (pid, start), without a pidfd and not renewable.
func (rc *resolveCache) put(pid int, start uint64, c *Container, now time.Time) {
	rc.putFD(pid, start, c, 0, now, -1)
}

// putFD records c for (pid, start) with its cgroup sum (0: not renewable), taking ownership of
// pidfd (-1 for none).
func (rc *resolveCache) putFD(pid int, start uint64, c *Container, sum uint64, now time.Time, pidfd int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.entries) >= rc.max || now.Sub(rc.lastSweep) >= rc.ttl {
		rc.sweepLocked(now)
	}
	if old, ok := rc.entries[pid]; ok {
		rc.dropLocked(old)
	}
	if pidfd >= 0 {
		rc.held++
	}
	rc.entries[pid] = resolved{start: start, at: now, c: c, pidfd: pidfd, sum: sum}
}

// Preconditions: rc.mu held for writing.
func (rc *resolveCache) dropLocked(e resolved) {
	if e.pidfd >= 0 {
		unix.Close(e.pidfd)
		rc.held--
	}
}

// Preconditions: rc.mu held for writing.
func (rc *resolveCache) sweepLocked(now time.Time) {
	rc.lastSweep = now
	for pid, e := range rc.entries {
		if now.Sub(e.at) >= 2*rc.ttl {
			rc.dropLocked(e)
			delete(rc.entries, pid)
		}
	}
	for pid, e := range rc.entries { // still full: drop about a quarter, in map order
		if len(rc.entries) < rc.max*3/4 {
			break
		}
		rc.dropLocked(e)
		delete(rc.entries, pid)
	}
}

// prune drops entries past renewal and closes their descriptors.
func (rc *resolveCache) prune(now time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.sweepLocked(now)
}

func (rc *resolveCache) len() int {
	rc.mu.RLock()
	defer rc.mu.RUnlock()
	return len(rc.entries)
}

// initCache maps a PID namespace inode to the host PID and start time of its init. An entry
// is used only while that PID still has that start time (the namespace dies with its init).
type initCache struct {
	mu      sync.Mutex
	entries map[uint64]initProc // guarded by mu
}

type initProc struct {
	pid   int
	start uint64
}

func (ic *initCache) get(ns uint64) (initProc, bool) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	p, ok := ic.entries[ns]
	return p, ok
}

func (ic *initCache) put(ns uint64, p initProc) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.entries == nil {
		ic.entries = make(map[uint64]initProc)
	}
	if len(ic.entries) >= maxNamespaces {
		clear(ic.entries) // namespaces are re-found on demand; 4096 live ones is far beyond use
	}
	ic.entries[ns] = p
}

func (ic *initCache) drop(ns uint64) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	delete(ic.entries, ns)
}
