//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestOffsets reads every file with 1-byte reads and at odd offsets (pread). docs/behaviour.md
// §1.2: a read at offset 0 renders a fresh snapshot and later offsets of the same open file
// continue it, so the pieces always join up to one consistent file; past the end is 0 bytes.
func TestOffsets(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	for _, rel := range d.virtualFiles() {
		t.Run(rel, func(t *testing.T) {
			f, err := os.Open(d.path(rel))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()

			// 1-byte read(2)s from offset 0: one snapshot, byte by byte.
			var small bytes.Buffer
			one := make([]byte, 1)
			for {
				n, err := f.Read(one)
				if n == 0 || err != nil {
					break
				}
				small.WriteByte(one[0])
				if small.Len() > 1<<20 {
					t.Fatal("1-byte reads never reached EOF")
				}
			}
			s := small.Bytes()
			if len(s) == 0 || s[len(s)-1] != '\n' {
				t.Fatalf("1-byte reads gave %q, want a whole file ending in a newline", s)
			}
			// The rest of the same snapshot in one pread at offset 1, and pieces at odd offsets.
			buf := make([]byte, len(s)+4096)
			n, err := f.ReadAt(buf, 1)
			if !bytes.Equal(buf[:n], s[1:]) {
				t.Errorf("pread(offset 1) = %d bytes (%v), not the rest of the 1-byte-read snapshot:\n1-byte: %q\npread:  %q",
					n, err, s, buf[:n])
			}
			for _, off := range []int{len(s) / 3, len(s)/2 + 1, len(s) - 1} {
				if off < 1 {
					continue
				}
				piece := make([]byte, 7)
				n, _ := f.ReadAt(piece, int64(off))
				if want := s[off:min(off+7, len(s))]; !bytes.Equal(piece[:n], want) {
					t.Errorf("pread(7 bytes at %d) = %q, want %q", off, piece[:n], want)
				}
			}
			for _, off := range []int64{int64(len(s)), int64(len(s)) + 1, int64(len(s)) + 100000} {
				if n, _ := f.ReadAt(buf, off); n != 0 {
					t.Errorf("pread at %d (past the end, %d bytes) returned %d bytes", off, len(s), n)
				}
			}
			// A whole read at offset 0 of the same file renders afresh: same shape.
			n, _ = f.ReadAt(buf, 0)
			if fresh := buf[:n]; strings.Count(string(fresh), "\n") != strings.Count(string(s), "\n") {
				t.Errorf("a fresh read has %d lines, the 1-byte read %d", strings.Count(string(fresh), "\n"), strings.Count(string(s), "\n"))
			}
			if rel == "proc/stat" {
				if err := checkStatShape(s, readHost(t).cpus); err != nil {
					t.Errorf("stat read with 1-byte reads: %v", err)
				}
			}
		})
	}
}
