package fs

import (
	"bytes"
	"runtime"
	"testing"
)

// TestHandleCost: an open file without its snapshot (over budget) costs the daemon at most 128
// bytes of heap: the handle and its entry in the table (docs/read-path.md, "What an open file
// costs").
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

// TestSnapshotBudget: the snapshots of a group's open files stay within its budget; a file
// opened past it keeps only the length of what it read, so a read at that offset still answers
// EOF and a read at 0 the whole file; releasing the files gives the budget back.
func TestSnapshotBudget(t *testing.T) {
	s, n, version := newSnapServer(t)
	whole := version(0)
	s.snaps.groupLimit = 10 * (int64(len(whole)) + snapOverhead)
	var fhs []uint64
	for i := range 100 {
		whole = version(i) // every rendering differs: nothing is shared
		fh := s.open(n, 0, 0)
		fhs = append(fhs, fh)
		got, err := s.readAt(s.handles.get(fh), 0, 1<<16)
		if err != nil || !bytes.Equal(got, whole) {
			t.Fatalf("read: %v, %d bytes; want the whole file, %d bytes", err, len(got), len(whole))
		}
		if held := s.snaps.bytes.Load(); held > s.snaps.groupLimit {
			t.Fatalf("%d bytes of snapshots held; the budget is %d", held, s.snaps.groupLimit)
		}
	}
	h := s.handles.get(fhs[len(fhs)-1])
	if h.snap != nil {
		t.Errorf("a file opened past the budget kept its snapshot")
	}
	fresh := version(1000) // a rendering afresh is a different file now
	if got, err := s.readAt(h, int64(len(whole)), 1<<16); err != nil || len(got) != 0 {
		t.Errorf("read at EOF past the budget: %v, %q; want 0 bytes", err, got)
	}
	if got, err := s.readAt(h, int64(len(whole))+10, 1<<16); err != nil || len(got) != 0 {
		t.Errorf("read after EOF past the budget: %v, %q; want 0 bytes", err, got)
	}
	if got, err := s.readAt(h, 10, 1<<16); err != nil || !bytes.Equal(got, fresh[10:]) {
		t.Errorf("read at 10 past the budget: %v, %q; want a fresh rendering from 10", err, got)
	}
	// A file within the budget continues its snapshot at any offset.
	if h0 := s.handles.get(fhs[0]); h0.snap == nil {
		t.Errorf("the first file opened lost its snapshot")
	}
	for _, fh := range fhs {
		s.release(fh)
	}
	checkSnapsReleased(t, s)
	if c := s.handles.count(); c != 0 {
		t.Errorf("%d handles after every file was released", c)
	}
}

// TestSmallReadsKeepTheirShare: a reader partway through a file keeps its snapshot when files
// read whole have used up their smaller share of the budget.
func TestSmallReadsKeepTheirShare(t *testing.T) {
	s, n, version := newSnapServer(t)
	size := int64(len(version(0))) + snapOverhead
	for i := range containerDoneSnapshotBudget/size + 10 {
		version(int(i))
		fh := s.open(n, 0, 0)
		if _, err := s.readAt(s.handles.get(fh), 0, 1<<16); err != nil {
			t.Fatal(err)
		}
	}
	held := s.snaps.bytes.Load()
	if held > containerDoneSnapshotBudget || held < containerDoneSnapshotBudget-2*size {
		t.Fatalf("%d bytes held by files read whole; their share is %d, used up", held, containerDoneSnapshotBudget)
	}
	version(-1)
	h := s.handles.get(s.open(n, 0, 0))
	first, err := s.readAt(h, 0, 16)
	if err != nil || len(first) != 16 {
		t.Fatalf("first 16 bytes: %v, %q", err, first)
	}
	if h.snap == nil {
		t.Fatalf("a reader partway through the file has no snapshot")
	}
}
