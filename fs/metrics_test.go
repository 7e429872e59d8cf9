package fs

import (
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// TestReadsCounted: each read at offset 0 renders and is counted for its file; a later offset
// continues the snapshot and is not. The reader's resolution shows in the cache counts.
func TestReadsCounted(t *testing.T) {
	w := newWire(t)
	e := w.lookup("proc", "meminfo")
	errno, out := w.open(e.NodeId, 0)
	if errno != 0 {
		t.Fatalf("OPEN: errno %d", errno)
	}
	w.read(e.NodeId, out.Fh, 0, 64)
	w.read(e.NodeId, out.Fh, 64, 64)
	w.read(e.NodeId, out.Fh, 0, 4096)
	w.call(testOpRelease, e.NodeId, fixtureReader, &fuse.ReleaseIn{Fh: out.Fh}, nil)

	m := w.srv.cfg.Metrics.Status()
	var reads uint64 = 1 << 63
	for _, f := range m.Files {
		if f.File == "meminfo" {
			reads = f.Reads
		} else if f.Reads != 0 {
			t.Errorf("%s: %d reads, want 0", f.File, f.Reads)
		}
	}
	if reads != 2 {
		t.Errorf("meminfo: %d reads, want 2", reads)
	}
	if m.ResolveCacheHits+m.ResolveCacheMisses == 0 {
		t.Errorf("the open's resolution was not counted: %+v", m)
	}
}

// A read on a directory's handle gets an error and counts nothing, rather than a nil counter's
// panic.
func TestDirectoryReadNotCounted(t *testing.T) {
	w := newWire(t)
	if _, err := w.srv.content(&handle{node: w.srv.tree.byID[rootID]}); err == nil {
		t.Error("reading the root directory's content succeeded")
	}
	for _, f := range w.srv.cfg.Metrics.Status().Files {
		if f.Reads != 0 {
			t.Errorf("%s: %d reads, want 0", f.File, f.Reads)
		}
	}
}
