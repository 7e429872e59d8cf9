package cgroupview

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestReadOneShow: a file longer than the buffer given is still read whole (a full read is not
// taken for the end), and a live /proc/<pid>/stat reads the same as with the read to EOF.
func TestReadOneShow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long")
	want := bytes.Repeat([]byte("0123456789"), 300)
	writeFile(t, path, string(want))
	var small [1024]byte
	got, err := readOneShow(append([]byte(path), 0), small[:0])
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("readOneShow of %d bytes: %d bytes, %v", len(want), len(got), err)
	}
	self := []byte("/proc/self/stat\x00")
	a, err := readOneShow(self, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := readPath(self, nil)
	if err != nil {
		t.Fatal(err)
	}
	// pid, comm, ppid and pgrp (fields 1, 2, 4, 5) do not change between the two reads; the
	// state (field 3) may.
	same := func(f [][]byte) []byte { return bytes.Join([][]byte{f[0], f[1], f[3], f[4]}, []byte{' '}) }
	if f, g := bytes.Fields(a), bytes.Fields(b); len(f) < 52 || len(g) < 52 || !bytes.Equal(same(f), same(g)) {
		t.Errorf("readOneShow(/proc/self/stat) = %q, read to EOF %q", a, b)
	}
}
