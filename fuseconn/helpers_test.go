package fuseconn

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"

	"procfsd/internal/fusetest"
)

// server serves raw file systems through the loops (ServeRaw), as procfsd's Serve and the
// benchmark's floor do, and lets the test's file system call mayBlock as procfsd's requests do.
type server struct {
	log      *zap.Logger
	busyPoll time.Duration
	journal  *Journal // nil: nothing journalled
	loops    atomic.Pointer[Loops]
}

func (s *server) mayBlock() { s.loops.Load().MayBlock() }

// serveRaw answers conn with raw until ctx ends, recovering an adopted conn from the journal
// first; ready is called once the mount answers.
func (s *server) serveRaw(ctx context.Context, conn *Conn, raw fuse.RawFileSystem, ready func()) error {
	return ServeRaw(ctx, conn, raw, s.journal, s.busyPoll, s.log, func(l *Loops) { s.loops.Store(l) }, func() error {
		if ready != nil {
			ready()
		}
		return nil
	})
}

func serveRawForTest(t *testing.T, srv *server, raw fuse.RawFileSystem) string {
	t.Helper()
	conn := mountRaw(t)
	ready := make(chan struct{})
	fusetest.ServeInBackground(t, ready, func(ctx context.Context) error {
		return srv.serveRaw(ctx, conn, raw, func() { close(ready) })
	})
	return conn.Mountpoint
}

// mountRaw mounts a tree without serving it; cleanup unmounts it and closes the descriptor.
func mountRaw(t testing.TB) *Conn {
	t.Helper()
	return fusetest.Mount(t, Mount, func(c *Conn) int { return c.FD })
}
