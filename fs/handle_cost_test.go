package fs

import (
	"bytes"
	"runtime"
	"testing"
)

// TestHandleCost: an open file without its snapshot (over budget) costs the daemon at most 128
// bytes of heap: the handle and its entry in the table (README "Design notes").
func TestHandleCost(t *testing.T) {
	n := &node{}
	const count = 100_000
	// The least of three rounds: a goroutine another test left winding down may allocate
	// during one.
	per := int64(1 << 30)
	for range 3 {
		var tab handleTable
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range count {
			tab.add(&handle{node: n, pid: 1 << 20, uid: 1000, size: 1500})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = min(per, (int64(after.HeapAlloc)-int64(before.HeapAlloc))/count)
		runtime.KeepAlive(&tab)
	}
	t.Logf("%d bytes of heap per open file", per)
	if per > 128 {
		t.Errorf("an open file costs %d bytes of heap; the bound is 128", per)
	}
}

// nodeAt is the tree's node for a path such as "proc/meminfo".
func nodeAt(t *testing.T, s *Server, path string) *node {
	t.Helper()
	for _, n := range s.tree.byID {
		if n.path == path {
			return n
		}
	}
	t.Fatalf("no node %s", path)
	return nil
}

// TestSnapshotBudget: the snapshots of open files stay within their budget; a file opened past
// it keeps only the length of what it read, so a read at that offset still answers EOF and a
// read at 0 the whole file; releasing the files gives the budget back.
func TestSnapshotBudget(t *testing.T) {
	s := newSwitchServer(t, copyTree(t, "../testdata/native/cgroup"), "", nil)
	n := nodeAt(t, s, "proc/meminfo")
	whole, err := s.hostFile(n)
	if err != nil {
		t.Fatal(err)
	}
	s.snapshotLimit = int64(10 * len(whole))
	var fhs []uint64
	for range 100 {
		fh := s.open(n, 0, 0)
		fhs = append(fhs, fh)
		got, err := s.readAt(s.handles.get(fh), 0, 1<<16)
		if err != nil || !bytes.Equal(got, whole) {
			t.Fatalf("read: %v, %d bytes; want the whole file, %d bytes", err, len(got), len(whole))
		}
		if held := s.snapshotBytes.Load(); held > s.snapshotLimit {
			t.Fatalf("%d bytes of snapshots held; the budget is %d", held, s.snapshotLimit)
		}
	}
	h := s.handles.get(fhs[len(fhs)-1])
	if h.data != nil {
		t.Errorf("a file opened past the budget kept its snapshot")
	}
	if got, err := s.readAt(h, int64(len(whole)), 1<<16); err != nil || len(got) != 0 {
		t.Errorf("read at EOF past the budget: %v, %q; want 0 bytes", err, got)
	}
	if got, err := s.readAt(h, int64(len(whole))+10, 1<<16); err != nil || len(got) != 0 {
		t.Errorf("read after EOF past the budget: %v, %q; want 0 bytes", err, got)
	}
	if got, err := s.readAt(h, 10, 1<<16); err != nil || !bytes.Equal(got, whole[10:]) {
		t.Errorf("read at 10 past the budget: %v, %d bytes; want a fresh rendering from 10", err, len(got))
	}
	// A file within the budget continues its snapshot at any offset.
	if h0 := s.handles.get(fhs[0]); h0.data == nil {
		t.Errorf("the first file opened lost its snapshot")
	}
	for _, fh := range fhs {
		s.release(fh)
	}
	if held := s.snapshotBytes.Load(); held != 0 {
		t.Errorf("%d bytes of snapshots held after every file was released", held)
	}
	if c := s.handles.count(); c != 0 {
		t.Errorf("%d handles after every file was released", c)
	}
}

// TestSmallReadsKeepTheirShare: a reader partway through a file keeps its snapshot when files
// read whole have used up their smaller share of the budget.
func TestSmallReadsKeepTheirShare(t *testing.T) {
	s := newSwitchServer(t, copyTree(t, "../testdata/native/cgroup"), "", nil)
	n := nodeAt(t, s, "proc/meminfo")
	for range doneSnapshotBudget / 1024 {
		fh := s.open(n, 0, 0)
		if _, err := s.readAt(s.handles.get(fh), 0, 1<<16); err != nil {
			t.Fatal(err)
		}
	}
	if held := s.snapshotBytes.Load(); held > doneSnapshotBudget {
		t.Fatalf("%d bytes held by files read whole; their share is %d", held, doneSnapshotBudget)
	}
	h := s.handles.get(s.open(n, 0, 0))
	first, err := s.readAt(h, 0, 16)
	if err != nil || len(first) != 16 {
		t.Fatalf("first 16 bytes: %v, %q", err, first)
	}
	if h.data == nil {
		t.Fatalf("a reader partway through the file has no snapshot")
	}
}
