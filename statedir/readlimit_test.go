package statedir

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadRegular: a regular file up to the bound is read whole; one byte more, a device, a
// FIFO (which must not block) and a directory are clear errors; a missing file stays
// os.ErrNotExist for the callers that treat it as "none yet".
func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, n), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, n := range []int{0, 1, 511, 512, 513, 4096} {
		p := write("exact", n)
		b, err := ReadRegular(p, int64(n))
		if err != nil || len(b) != n {
			t.Errorf("%d-byte file, bound %d: %d bytes, %v", n, n, len(b), err)
		}
		if b, err := ReadRegular(p, int64(n)+100); err != nil || len(b) != n {
			t.Errorf("%d-byte file, bound %d: %d bytes, %v", n, n+100, len(b), err)
		}
	}
	over := write("over", 1001)
	if _, err := ReadRegular(over, 1000); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), over) {
		t.Errorf("1001-byte file, bound 1000: %v, want ErrTooLarge naming the file", err)
	}

	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRegular(zero, 1<<20); err == nil || !strings.Contains(err.Error(), "character device") {
		t.Errorf("symlink to /dev/zero: %v, want a not-a-regular-file error", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRegular(fifo, 1<<20); err == nil || !strings.Contains(err.Error(), "named pipe") {
		t.Errorf("FIFO: %v, want a not-a-regular-file error", err)
	}
	if _, err := ReadRegular(dir, 1<<20); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v, want a not-a-regular-file error", err)
	}
	if _, err := ReadRegular(filepath.Join(dir, "missing"), 1<<20); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}

// TestReadLimited: a stream that outgrows its stated size (a file growing after its stat) is
// cut at the bound, and no more than bound+1 bytes are taken from it.
func TestReadLimited(t *testing.T) {
	r := &countingReader{r: strings.NewReader(strings.Repeat("y", 10000))}
	if _, err := ReadLimited(r, 100, 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("10000 bytes, bound 100: %v, want ErrTooLarge", err)
	}
	if r.n > 101 {
		t.Errorf("took %d bytes from the reader, want at most 101", r.n)
	}
	b, err := ReadLimited(strings.NewReader("hello"), 5, 0)
	if err != nil || string(b) != "hello" {
		t.Errorf("5 bytes, bound 5: %q, %v", b, err)
	}
	if _, err := ReadLimited(io.MultiReader(strings.NewReader("ab"), errReader{}), 5, 0); err == nil {
		t.Error("a read error was not returned")
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, syscall.EIO }
