package fs

import (
	"sync"
	"sync/atomic"

	"procfsd/cgroupview"
)

// handle is one open file. It holds what SPEC §1.2 asks to keep per open: the reader's
// container, resolved once at open, and the snapshot that later offsets continue (like
// fs/seq_file.c seq_read: offset 0 regenerates, other offsets continue the same buffer).
// Everything in it can be rebuilt from the request that uses it, so a successor process can
// adopt handles it never issued (SPEC §5).
//
// An open file costs the daemon this struct (64 bytes) and its entry in the table, about 180
// bytes of heap in all (TestHandleCost), and its snapshot while the snapshots of all open files
// fit their budget (snapshotBudget); past it only the snapshot's length is kept. So a crowd of
// files held open grows the daemon by a bounded amount per file, as the kernel's own
// struct file does, and no more.
type handle struct {
	node *node
	pid  int
	uid  uint32
	size int32 // the length of the last snapshot, also when it was not kept

	// container is nil for the host view (kernel requests, exited readers, isolation off).
	container *cgroupview.Container

	mu   sync.Mutex // guards data and size
	data []byte     // the snapshot; nil until the first read, or when over budget
}

// handleTable maps FUSE file handles to handles. Lookups take no global lock (sync.Map),
// so parallel readers of different files never wait for each other (SPEC §5).
type handleTable struct {
	next atomic.Uint64
	m    sync.Map // uint64 → *handle
}

func (t *handleTable) add(h *handle) uint64 {
	fh := t.next.Add(1)
	t.m.Store(fh, h)
	return fh
}

// put registers h under a handle number issued by a predecessor process.
func (t *handleTable) put(fh uint64, h *handle) *handle {
	got, _ := t.m.LoadOrStore(fh, h)
	return got.(*handle)
}

func (t *handleTable) get(fh uint64) *handle {
	h, ok := t.m.Load(fh)
	if !ok {
		return nil
	}
	return h.(*handle)
}

// take removes fh from the table and returns its handle, or nil.
func (t *handleTable) take(fh uint64) *handle {
	h, ok := t.m.LoadAndDelete(fh)
	if !ok {
		return nil
	}
	return h.(*handle)
}

// count is the number of open handles, for tests and status.
func (t *handleTable) count() int {
	n := 0
	t.m.Range(func(_, _ any) bool { n++; return true })
	return n
}
