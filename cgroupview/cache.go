package cgroupview

import (
	"sync"
	"time"
)

// Cache bounds. A FUSE open resolves its caller, so the cache holds the processes that opened a
// virtual file in the last resolveTTL: thousands, not millions.
const (
	resolveTTL    = 2 * time.Second // a process moved to another cgroup is seen after at most this
	maxResolved   = 16384
	maxNamespaces = 4096
)

// resolveCache maps a host PID (TID) to its resolved container. An entry is only returned for
// the same start time (SPEC §2.1: an entry never outlives its process, even when the PID is
// reused) and while younger than ttl. Expired entries, which include every dead process's, are
// swept at least every ttl and whenever the map is full; if a sweep leaves it full, arbitrary
// entries go (they are only re-resolved). No I/O happens under mu.
type resolveCache struct {
	mu        sync.Mutex
	ttl       time.Duration
	max       int
	entries   map[int]resolved // guarded by mu
	lastSweep time.Time        // guarded by mu
}

type resolved struct {
	start uint64
	at    time.Time
	c     *Container
}

func newResolveCache(ttl time.Duration, max int) *resolveCache {
	return &resolveCache{ttl: ttl, max: max, entries: make(map[int]resolved)}
}

func (rc *resolveCache) get(pid int, start uint64, now time.Time) (*Container, bool) {
	rc.mu.Lock()
	e, ok := rc.entries[pid]
	rc.mu.Unlock()
	if !ok || e.start != start || now.Sub(e.at) >= rc.ttl {
		return nil, false
	}
	return e.c, true
}

func (rc *resolveCache) put(pid int, start uint64, c *Container, now time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.entries) >= rc.max || now.Sub(rc.lastSweep) >= rc.ttl {
		rc.sweepLocked(now)
	}
	rc.entries[pid] = resolved{start: start, at: now, c: c}
}

// Preconditions: rc.mu held.
func (rc *resolveCache) sweepLocked(now time.Time) {
	rc.lastSweep = now
	for pid, e := range rc.entries {
		if now.Sub(e.at) >= rc.ttl {
			delete(rc.entries, pid)
		}
	}
	for pid := range rc.entries { // still full: drop about a quarter, in map order
		if len(rc.entries) < rc.max*3/4 {
			break
		}
		delete(rc.entries, pid)
	}
}

func (rc *resolveCache) len() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
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
