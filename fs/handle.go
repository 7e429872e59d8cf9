package fs

import (
	"sync"
	"sync/atomic"

	"procfsd/cgroupview"
)

// handle is one open file. It holds what docs/behaviour.md §1.2 asks to keep per open: the reader's
// container, resolved once at open, and the snapshot that later offsets continue (like
// fs/seq_file.c seq_read: offset 0 regenerates, other offsets continue the same buffer).
// Everything in it can be rebuilt from the request that uses it, so a successor process can
// adopt handles it never issued (docs/behaviour.md §5).
//
// An open file costs the daemon this struct (48 bytes) and its entry in the table, at most 128
// bytes of heap in all (TestHandleCost), and a share of its snapshot while the snapshots of its
// container's open files fit their budget (snapshot.go); past it only the snapshot's length is
// kept. So files held open by the ten thousand grow the daemon by a bounded amount each
// (docs/read-path.md, "What an open file costs").
type handle struct {
	node *node
	pid  int
	uid  uint32
	size int32 // the length of the last snapshot, also when it was not kept

	// container is nil for the host view (kernel requests, exited readers, isolation off).
	container *cgroupview.Container

	mu   sync.Mutex // guards snap and size
	snap *snap      // the snapshot, maybe shared; nil until the first read, or when over budget
}

// handleTable maps FUSE file handles to handles. Lookups take no global lock: the table is split in
// shards by handle number, each with its own lock, so parallel readers of different files almost
// never wait for each other (docs/behaviour.md §5). Plain maps rather than a sync.Map: an entry
// costs a fraction of a sync.Map's, whose entries would be most of what an open file costs (handle;
// docs/read-path.md, "What an open file costs"). A map keeps the room of the most handles it held;
// that is bounded by them, and small.
type handleTable struct {
	next   atomic.Uint64
	shards [handleShards]handleShard
}

const handleShards = 64

type handleShard struct {
	mu sync.RWMutex
	m  map[uint64]*handle
	_  [32]byte // a cache line of its own: readers of neighbouring shards do not contend
}

func (t *handleTable) shard(fh uint64) *handleShard { return &t.shards[fh%handleShards] }

func (t *handleTable) add(h *handle) uint64 {
	fh := t.next.Add(1)
	t.put(fh, h)
	return fh
}

// put registers h under a handle number issued by a predecessor process, unless that number
// has a handle already, which it returns.
func (t *handleTable) put(fh uint64, h *handle) *handle {
	sh := t.shard(fh)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if got := sh.m[fh]; got != nil {
		return got
	}
	if sh.m == nil {
		sh.m = map[uint64]*handle{}
	}
	sh.m[fh] = h
	return h
}

func (t *handleTable) get(fh uint64) *handle {
	sh := t.shard(fh)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[fh]
}

// take removes fh from the table and returns its handle, or nil.
func (t *handleTable) take(fh uint64) *handle {
	sh := t.shard(fh)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	h := sh.m[fh]
	delete(sh.m, fh)
	return h
}

// each calls f for every handle, one shard locked at a time.
func (t *handleTable) each(f func(fh uint64, h *handle)) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		for fh, h := range sh.m {
			f(fh, h)
		}
		sh.mu.RUnlock()
	}
}

// count is the number of open handles, for tests and status.
func (t *handleTable) count() int {
	n := 0
	t.each(func(uint64, *handle) { n++ })
	return n
}
