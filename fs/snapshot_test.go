package fs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap/zaptest"

	"procfsd/cgroupview"
	"procfsd/fuseconn"
	"procfsd/internal/fixture"
)

// newSnapServer is a server whose containers see the host's files (isolation off), over a copy
// of the host's /proc; version(i) rewrites its meminfo as the i-th of distinct files of one
// length and returns it, so a test decides when renderings differ.
func newSnapServer(t *testing.T) (*Server, *node, func(int) []byte) {
	t.Helper()
	proc := fixture.CopyTree(t, hostProc)
	s, err := New(Config{ProcRoot: proc, CgroupRoot: fixture.CopyTree(t, "../testdata/native/cgroup"), Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile(filepath.Join(proc, "meminfo"))
	if err != nil {
		t.Fatal(err)
	}
	version := func(i int) []byte {
		b := fmt.Appendf(bytes.Clone(base), "Version:        %8d kB\n", i)
		if err := os.WriteFile(filepath.Join(proc, "meminfo"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return b
	}
	return s, nodeAt(t, s, "proc/meminfo"), version
}

// Two containers, each in its own PID namespace (their snapshots count against their own
// budgets), and a caller in the host PID namespace.
var (
	snapA    = &cgroupview.Container{ID: "/snap-a", Paths: map[string]string{"memory": "/snap-a"}, InitPID: 100}
	snapB    = &cgroupview.Container{ID: "/snap-b", Paths: map[string]string{"memory": "/snap-b"}, InitPID: 200}
	snapHost = &cgroupview.Container{ID: "/user.slice", Paths: map[string]string{"memory": "/user.slice"}}
)

// openIn issues a handle of n for a reader in container c.
func openIn(s *Server, n *node, c *cgroupview.Container) uint64 {
	return s.handles.add(&handle{node: n, pid: c.InitPID + 1, container: c})
}

// groupBytes is what the snapshots of c's group hold, 0 for a group not in the table.
func groupBytes(s *Server, c *cgroupview.Container) int64 {
	v, ok := s.snaps.groups.Load(groupKey(c))
	if !ok {
		return 0
	}
	g := v.(*snapGroup)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.bytes
}

// checkSnapsReleased: with every file released no snapshot is counted and no group is left.
func checkSnapsReleased(t *testing.T, s *Server) {
	t.Helper()
	if held := s.snaps.bytes.Load(); held != 0 {
		t.Errorf("%d bytes of snapshots held after every file was released", held)
	}
	s.snaps.groups.Range(func(k, v any) bool {
		t.Errorf("group %q left with %d bytes after every file was released", k, v.(*snapGroup).bytes)
		return true
	})
}

// readSmall reads h from offset from to EOF size bytes at a time, calling between after the
// first read: what a reader with a small buffer puts together.
func readSmall(t *testing.T, s *Server, h *handle, from, size int, between func()) []byte {
	t.Helper()
	var out []byte
	for {
		b, err := s.readAt(h, int64(from+len(out)), size)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			return out
		}
		out = append(out, b...)
		if between != nil {
			between()
			between = nil
		}
	}
}

// diff is where got and want part, for a short message.
func diff(got, want []byte) string {
	i := 0
	for i < min(len(got), len(want)) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("%d and %d bytes, from byte %d %q, want %q", len(got), len(want), i,
		got[i:min(len(got), i+40)], want[i:min(len(want), i+40)])
}

// TestSnapshotsShared: files of one container and file whose renderings are the same share one
// snapshot, counted once; another container's identical rendering is its own; a new rendering
// does not disturb the files still on the old one; releasing every file gives the budget back.
func TestSnapshotsShared(t *testing.T) {
	s, n, version := newSnapServer(t)
	v0 := version(0)
	cost := int64(cap(v0)) // the rendering's allocation, not known before it is made
	var fhs []uint64
	var first *snap
	for range 100 {
		fh := openIn(s, n, snapA)
		fhs = append(fhs, fh)
		h := s.handles.get(fh)
		if b, err := s.readAt(h, 0, 16); err != nil || !bytes.Equal(b, v0[:16]) {
			t.Fatalf("first 16 bytes: %v, %q", err, b)
		}
		if first == nil {
			first, cost = h.snap, h.snap.cost()
		}
		if h.snap != first || &h.snap.data[0] != &first.data[0] {
			t.Fatalf("file %d of the same container and rendering has a snapshot of its own", len(fhs))
		}
	}
	if held, a := s.snaps.bytes.Load(), groupBytes(s, snapA); held != cost || a != cost {
		t.Errorf("100 files sharing one snapshot count %d bytes, their container %d; want %d", held, a, cost)
	}
	fhB := openIn(s, n, snapB)
	hB := s.handles.get(fhB)
	if _, err := s.readAt(hB, 0, 16); err != nil {
		t.Fatal(err)
	}
	if hB.snap == first || hB.snap == nil {
		t.Errorf("another container's rendering shares the first one's snapshot, or has none")
	}
	// A rendering that differs is a new snapshot; the files on the old one keep it.
	v1 := version(1)
	fhNew := openIn(s, n, snapA)
	if b, err := s.readAt(s.handles.get(fhNew), 0, 16); err != nil || s.handles.get(fhNew).snap == first {
		t.Fatalf("a new rendering: %v, %q, the old snapshot", err, b)
	}
	if got := readSmall(t, s, s.handles.get(fhs[0]), 16, 16, nil); !bytes.Equal(got, v0[16:]) {
		t.Errorf("a file on the old snapshot after offset 16: %s", diff(got, v0[16:]))
	}
	if got := readSmall(t, s, s.handles.get(fhNew), 16, 16, nil); !bytes.Equal(got, v1[16:]) {
		t.Errorf("the new file after offset 16: %s", diff(got, v1[16:]))
	}
	// Files released one by one: the shared snapshot stays counted until the last goes.
	for i, fh := range fhs[:len(fhs)-1] {
		s.release(fh)
		if a := groupBytes(s, snapA); a < cost {
			t.Fatalf("after %d of 100 files sharing a snapshot were released their container holds %d bytes, want at least %d", i+1, a, cost)
		}
	}
	for _, fh := range []uint64{fhs[len(fhs)-1], fhB, fhNew} {
		s.release(fh)
	}
	checkSnapsReleased(t, s)
}

// TestSnapshotBudgetPerContainer: a container whose open files use up its budget degrades only
// its own readers: another container's reader with a small buffer still reads one snapshot
// across a change of the file, and the first container's next reader past its budget reads the
// change (a fresh rendering). Callers in the host PID namespace are one group of their own.
func TestSnapshotBudgetPerContainer(t *testing.T) {
	s, n, version := newSnapServer(t)
	size := int64(len(version(0)))
	s.snaps.groupLimit = 20 * (size + size/2 + snapOverhead) // 20 renderings or fewer
	var fhs []uint64
	for i := range 200 {
		version(i) // every rendering differs: nothing is shared
		fh := openIn(s, n, snapA)
		fhs = append(fhs, fh)
		if _, err := s.readAt(s.handles.get(fh), 0, 16); err != nil {
			t.Fatal(err)
		}
	}
	heldA := groupBytes(s, snapA)
	if heldA > s.snaps.groupLimit || heldA < s.snaps.groupLimit/2 {
		t.Fatalf("container A holds %d bytes; its budget %d should be used up", heldA, s.snaps.groupLimit)
	}
	for _, c := range []*cgroupview.Container{snapB, snapHost} {
		before := version(1000)
		fh := openIn(s, n, c)
		fhs = append(fhs, fh)
		got := readSmall(t, s, s.handles.get(fh), 0, 16, func() { version(1001) })
		if !bytes.Equal(got, before) {
			t.Errorf("%s, with container A over its budget: 16-byte reads put together are not the file of the first read: %s", c.ID, diff(got, before))
		}
	}
	if b, h := groupBytes(s, snapB), groupBytes(s, snapHost); b == 0 || h == 0 || b+h+heldA != s.snaps.bytes.Load() {
		t.Errorf("B holds %d bytes, the host group %d, A %d; %d in all", b, h, heldA, s.snaps.bytes.Load())
	}
	// A's own reader past its budget renders each later offset afresh.
	before := version(2000)
	fh := openIn(s, n, snapA)
	fhs = append(fhs, fh)
	after := version(2001)
	got := readSmall(t, s, s.handles.get(fh), 0, 16, func() { after = version(2001) })
	if want := append(before[:16:16], after[16:]...); !bytes.Equal(got, want) {
		t.Errorf("container A past its budget: 16-byte reads put together are not its first 16 bytes, then the changed file: %s", diff(got, want))
	}
	for _, fh := range fhs {
		s.release(fh)
	}
	checkSnapsReleased(t, s)
}

// TestSnapshotBackstop: past the budget of all groups together no group keeps a new snapshot,
// whatever its own budget.
func TestSnapshotBackstop(t *testing.T) {
	s, n, version := newSnapServer(t)
	size := int64(len(version(0)))
	s.snaps.totalLimit = 10 * (size + size/2 + snapOverhead)
	var fhs []uint64
	for i := range 40 {
		version(i)
		fh := openIn(s, n, []*cgroupview.Container{snapA, snapB}[i%2])
		fhs = append(fhs, fh)
		if _, err := s.readAt(s.handles.get(fh), 0, 16); err != nil {
			t.Fatal(err)
		}
		if held := s.snaps.bytes.Load(); held > s.snaps.totalLimit {
			t.Fatalf("%d bytes of snapshots held; the backstop is %d", held, s.snaps.totalLimit)
		}
	}
	if h := s.handles.get(fhs[len(fhs)-1]); h.snap != nil {
		t.Errorf("a file opened past the backstop kept its snapshot")
	}
	for _, fh := range fhs {
		s.release(fh)
	}
	checkSnapsReleased(t, s)
}

// TestSnapshotsHandover: a successor gets each shared snapshot once and shares it again among
// the same files, counted once, and its budgets go back to 0 when they are released.
func TestSnapshotsHandover(t *testing.T) {
	s, n, version := newSnapServer(t)
	version(0)
	var fhs []uint64
	for i := range 30 {
		if i == 20 {
			version(1)
		}
		fh := openIn(s, n, []*cgroupview.Container{snapA, snapB}[i%2])
		fhs = append(fhs, fh)
		if _, err := s.readAt(s.handles.get(fh), 0, 16); err != nil {
			t.Fatal(err)
		}
	}
	state, err := s.ExportHandover(&fuseconn.Conn{})
	if err != nil {
		t.Fatal(err)
	}
	succ, _, _ := newSnapServer(t)
	if _, err := succ.ImportHandover(state); err != nil {
		t.Fatal(err)
	}
	// The same snapshots, each once: 4 (A and B before and after the change).
	distinct := map[*snap]bool{}
	var cost int64
	for i, fh := range fhs {
		h, old := succ.handles.get(fh), s.handles.get(fh)
		if h == nil || h.snap == nil || old.snap == nil {
			t.Fatalf("file %d: the successor's handle %v, the predecessor's %v", i, h, old)
		}
		if !distinct[h.snap] {
			distinct[h.snap] = true
			cost += h.snap.cost()
		}
		// The first file of the same container and rendering: files 0 and 1, or 20 and 21.
		first := fhs[i%2+i/20*20]
		if old.snap != s.handles.get(first).snap || h.snap != succ.handles.get(first).snap {
			t.Errorf("file %d does not share its container's snapshot in the successor", i)
		}
		if got, want := readSmall(t, succ, h, 16, 16, nil), old.snap.data[16:]; !bytes.Equal(got, want) {
			t.Errorf("file %d after offset 16: %s", i, diff(got, want))
		}
	}
	if len(distinct) != 4 || succ.snaps.bytes.Load() != cost {
		t.Errorf("the successor holds %d snapshots, %d bytes counted, %d in them; want 4", len(distinct), succ.snaps.bytes.Load(), cost)
	}
	for _, fh := range fhs {
		succ.release(fh)
	}
	checkSnapsReleased(t, succ)
}

// TestSnapshotsHandoverDataPerFile: a predecessor that wrote each file's snapshot with the file
// (Data) hands its snapshots over too, and identical ones are shared.
func TestSnapshotsHandoverDataPerFile(t *testing.T) {
	s, n, version := newSnapServer(t)
	v0 := version(0)
	st := handoverState{NextHandle: 10}
	for fh := range uint64(3) {
		st.Handles = append(st.Handles, handleState{Fh: fh + 1, Node: n.id, PID: 101, Container: snapA, Data: v0})
	}
	state, err := json.Marshal(&st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportHandover(state); err != nil {
		t.Fatal(err)
	}
	h1, h3 := s.handles.get(1), s.handles.get(3)
	if h1 == nil || h1.snap == nil || h3.snap != h1.snap || s.snaps.bytes.Load() != h1.snap.cost() {
		t.Fatalf("3 files with the same Data: snapshots %p and %p, %d bytes counted", h1.snap, h3.snap, s.snaps.bytes.Load())
	}
	if got := readSmall(t, s, h3, 16, 16, nil); !bytes.Equal(got, v0[16:]) {
		t.Errorf("after offset 16: %s", diff(got, v0[16:]))
	}
	for fh := range uint64(3) {
		s.release(fh + 1)
	}
	checkSnapsReleased(t, s)
}
