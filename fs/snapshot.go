package fs

import (
	"bytes"
	"cmp"
	"math"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"procfsd/cgroupview"
)

// The snapshots open files keep (docs/behaviour.md §1.2) are counted by their allocations against
// two budgets: each container's own, and all containers' together as a backstop. A reader needs its
// snapshot between the reads of one pass over a file, which follow each other at once; an open file
// whose reader took the whole file needs it only for a read at an earlier offset after EOF, and
// gets the smaller share. Past a budget a later offset is rendered afresh, as the kernel's seq_file
// does for a read at a position it did not stop at (traverse in fs/seq_file.c): such a reader may
// see a torn file, instead of the daemon growing by a snapshot for every file held open, a few KB
// each (docs/read-path.md, "What an open file costs"). Because each container has its own budget,
// the files one container holds open can only cost its own readers their snapshots; callers in the
// host PID namespace are one group. A normal container keeps a few hundred files of a few KB open
// at most: far below its budget. The backstop is what 16 containers at their budgets hold.
const (
	containerSnapshotBudget     = 4 << 20
	containerDoneSnapshotBudget = 1 << 20
	snapshotBudget              = 64 << 20
	doneSnapshotBudget          = 16 << 20

	// snapOverhead is what a kept snapshot costs besides its bytes: the snap and its
	// allocation, counted so that tiny files are not free.
	snapOverhead = 64
)

// snap is a rendering kept for open files. Its bytes never change, so open files of the same
// group and file whose renderings are byte for byte the same share one: the render caches
// (cache.go) make a container's renderings identical for tens of ms, and a crowd of files
// opened together costs one snapshot.
type snap struct {
	data  []byte
	node  *node
	group *snapGroup
	refs  int32 // the handles holding it; guarded by group.mu
}

func (sn *snap) cost() int64 { return int64(cap(sn.data)) + snapOverhead }

// snapGroup is the snapshots held by the open files of one container, or of the host PID
// namespace's callers. It exists while it holds any: a group that holds none leaves the table.
type snapGroup struct {
	key string

	mu     sync.Mutex
	bytes  int64           // the cost of its snapshots
	last   map[*node]*snap // the newest kept snapshot of each file, which an identical rendering shares
	gone   bool            // left the table: a user that finds it so looks up the group again
	logged bool            // reaching the budget was logged
}

// snapTable is the server's snapshot accounting. The zero value is ready.
type snapTable struct {
	groups sync.Map     // group key → *snapGroup
	bytes  atomic.Int64 // the cost of every group's snapshots
	logged atomic.Bool  // reaching the backstop was logged

	// Budgets tests lower; 0: the constants above.
	groupLimit, totalLimit int64
}

// groupKey names the group whose budget an open file's snapshots count against: its container,
// or "" for callers in the host PID namespace (and the host view of kernel requests and exited
// readers). Container IDs are cgroup paths and never empty.
func groupKey(c *cgroupview.Container) string {
	if c == nil || c.InitPID == 0 {
		return ""
	}
	return c.ID
}

// lock returns the live group for key, locked.
func (t *snapTable) lock(key string) *snapGroup {
	for {
		v, ok := t.groups.Load(key)
		if !ok {
			v, _ = t.groups.LoadOrStore(key, &snapGroup{key: key})
		}
		g := v.(*snapGroup)
		g.mu.Lock()
		if !g.gone {
			return g
		}
		g.mu.Unlock()
	}
}

// unlock releases g, and first takes it out of the table if it holds nothing.
func (t *snapTable) unlock(g *snapGroup) {
	if g.bytes == 0 {
		g.gone = true
		t.groups.CompareAndDelete(g.key, g)
	}
	g.mu.Unlock()
}

// unref drops one holder of sn. Call with sn.group.mu held.
func (t *snapTable) unref(sn *snap) {
	g := sn.group
	if sn.refs--; sn.refs > 0 {
		return
	}
	g.bytes -= sn.cost()
	t.bytes.Add(-sn.cost())
	if g.last[sn.node] == sn {
		delete(g.last, sn.node)
	}
}

// budgets are the limits a new snapshot must fit: its group's and all groups' together.
type budgets struct{ group, total int64 }

// unlimited is for snapshots a predecessor process already held (ImportHandover).
var unlimited = budgets{math.MaxInt64, math.MaxInt64}

// budgetsFor returns the budgets for a rendering whose reader takes it whole in this read, or
// does not.
func (t *snapTable) budgetsFor(whole bool) budgets {
	if whole {
		return budgets{cmp.Or(t.groupLimit, containerDoneSnapshotBudget), cmp.Or(t.totalLimit, doneSnapshotBudget)}
	}
	return budgets{cmp.Or(t.groupLimit, containerSnapshotBudget), cmp.Or(t.totalLimit, snapshotBudget)}
}

// keep makes data h's snapshot and returns the bytes to serve: the snapshot h's group already
// keeps for the file when it is byte for byte the same (data then goes to the collector), else
// data, kept if it fits the budgets b. Past them h keeps only the length. Call with h.mu held.
func (s *Server) keep(h *handle, data []byte, b budgets) []byte {
	t := &s.snaps
	h.size = int32(min(len(data), math.MaxInt32))
	if h.snap == nil && len(data) == 0 {
		return data // nothing to continue
	}
	// A file read again from 0 (top keeps its files open) that renders the same keeps its
	// snapshot without the group's lock: h.mu guards h.snap, and a snapshot's bytes never change.
	if old := h.snap; old != nil && bytes.Equal(old.data, data) {
		return old.data
	}
	g := t.lock(groupKey(h.container))
	defer t.unlock(g)
	// h's old snapshot is g's: a group holding a snapshot stays in the table, and h's
	// container, which names it, never changes.
	if old := h.snap; old != nil {
		h.snap = nil
		t.unref(old)
	}
	if len(data) == 0 {
		return data
	}
	if last := g.last[h.node]; last != nil && bytes.Equal(last.data, data) {
		last.refs++
		h.snap = last
		return last.data
	}
	sn := &snap{data: data, node: h.node, group: g, refs: 1}
	if g.bytes+sn.cost() > b.group {
		if !g.logged {
			g.logged = true
			s.log.Info("a container's open files' snapshots reached its budget; later offsets of its files opened past it are rendered afresh",
				zap.String("container", g.key), zap.Int64("budget_bytes", b.group), zap.Int64("held_bytes", g.bytes))
		}
		return data
	}
	if t.bytes.Add(sn.cost()) > b.total {
		t.bytes.Add(-sn.cost())
		if t.logged.CompareAndSwap(false, true) {
			s.log.Warn("all containers' open files' snapshots reached their budget; later offsets of files opened past it are rendered afresh",
				zap.Int64("budget_bytes", b.total), zap.Int64("held_bytes", t.bytes.Load()))
		}
		return data
	}
	g.bytes += sn.cost()
	if g.last == nil {
		g.last = map[*node]*snap{}
	}
	g.last[h.node] = sn
	h.snap = sn
	return data
}

// shareSnap makes sn, a snapshot of h's group and file, h's snapshot too, and reports whether it
// could. Call with h.mu held, and h without a snapshot.
func (s *Server) shareSnap(h *handle, sn *snap) bool {
	if sn == nil {
		return false
	}
	g := s.snaps.lock(groupKey(h.container))
	defer s.snaps.unlock(g)
	if sn.group != g || sn.node != h.node || sn.refs == 0 {
		return false
	}
	sn.refs++
	h.snap = sn
	return true
}

// dropSnap lets go of h's snapshot. Call with h.mu held.
func (s *Server) dropSnap(h *handle) {
	sn := h.snap
	if sn == nil {
		return
	}
	h.snap = nil
	g := sn.group
	g.mu.Lock() // a group holding sn is live: it cannot have left the table
	s.snaps.unref(sn)
	s.snaps.unlock(g)
}

// release forgets a closed file.
func (s *Server) release(fh uint64) {
	if h := s.handles.take(fh); h != nil {
		h.mu.Lock()
		s.dropSnap(h)
		h.mu.Unlock()
	}
}
