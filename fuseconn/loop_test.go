package fuseconn

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap/zaptest"
)

// stallFS is the floor's tree, except that the first read of the first open calls mayBlock,
// as a cache miss does, and then waits until release is closed.
type stallFS struct {
	*NullFS
	srv     *server
	opens   atomic.Uint64
	stalled chan struct{} // closed once the first read waits
	release chan struct{}
}

func (f *stallFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	st := f.NullFS.Open(cancel, in, out)
	out.Fh = f.opens.Add(1)
	return st
}

func (f *stallFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if in.Fh == 1 && in.Offset == 0 {
		f.srv.mayBlock()
		close(f.stalled)
		<-f.release
	}
	return f.NullFS.Read(cancel, in, buf)
}

// TestSlowRequestDoesNotHoldUpOthers: one loop reads at a time (loop.go), so a request that
// waits for I/O must hand reading to a spare, or every other reader waits behind it.
func TestSlowRequestDoesNotHoldUpOthers(t *testing.T) {
	srv := &server{log: zaptest.NewLogger(t)}
	fsys := &stallFS{
		NullFS: NewNullFS([]byte("content\n")),
		srv:    srv, stalled: make(chan struct{}), release: make(chan struct{}),
	}
	dir := serveRawForTest(t, srv, fsys)
	released := false
	t.Cleanup(func() { // before the server stops: cleanups run last first
		if !released {
			close(fsys.release)
		}
	})
	file := filepath.Join(dir, NullFile)
	read := func() <-chan error {
		done := make(chan error, 1)
		go func() {
			b, err := os.ReadFile(file)
			if err == nil && string(b) != "content\n" {
				err = os.ErrInvalid
			}
			done <- err
		}()
		return done
	}
	slow := read()
	select {
	case <-fsys.stalled:
	case err := <-slow:
		t.Fatalf("the first read returned before it stalled: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the first read never reached the server")
	}
	for i := range 3 {
		select {
		case err := <-read():
			if err != nil {
				t.Fatalf("read %d beside the stalled one: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("read %d waited behind the stalled request", i)
		}
	}
	close(fsys.release)
	released = true
	if err := <-slow; err != nil {
		t.Fatalf("the stalled read, once released: %v", err)
	}
}

// missFS is the floor's tree, except that every read calls mayBlock, as a cache miss does, so
// that spares are woken all the time, also when another loop is already reading.
type missFS struct {
	*NullFS
	srv *server
}

func (f *missFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	f.srv.mayBlock()
	return f.NullFS.Read(cancel, in, buf)
}

// TestSparesNeverLeaveNobodyReading: loops hand the reading role back and forth while spares
// wake spuriously; every read must still be answered (a lost role hangs every reader).
func TestSparesNeverLeaveNobodyReading(t *testing.T) {
	srv := &server{log: zaptest.NewLogger(t)}
	fsys := &missFS{NullFS: NewNullFS([]byte("content\n")), srv: srv}
	dir := serveRawForTest(t, srv, fsys)
	file := filepath.Join(dir, NullFile)
	const readers, reads = 8, 2000
	done := make(chan error, readers)
	var answered atomic.Int64
	for range readers {
		go func() {
			for range reads {
				if _, err := os.ReadFile(file); err != nil {
					done <- err
					return
				}
				answered.Add(1)
			}
			done <- nil
		}()
	}
	timeout := time.After(60 * time.Second)
	for range readers {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatalf("reads stopped being answered after %d of %d", answered.Load(), readers*reads)
		}
	}
}

// serveRawForTest mounts a tree (mountRaw), serves raw on it through srv's loops and returns
// the mountpoint once the server answers: an in-process client that opens a file before the
// poll hack has run can deadlock the process (pollHack). Cleanup stops the server first.
