// Package fusetest mounts and serves FUSE trees for the unit tests of fuseconn and fs. It does
// not import fuseconn, so that fuseconn's own tests can use it: the caller passes Mount.
package fusetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"procfsd/internal/testenv"
)

// Mount requires FUSE and mounts a tree with mount (fuseconn.Mount) at a fresh directory under
// the test's temporary directory; cleanup unmounts it and closes its descriptor, fd(conn).
func Mount[C interface{ Unmount() error }](t testing.TB, mount func(mountpoint string) (C, error), fd func(C) int) C {
	t.Helper()
	testenv.RequireFUSE(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	conn, err := mount(dir)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		if err := conn.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
		unix.Close(fd(conn))
	})
	return conn
}

// Serving is a server running in a goroutine, as one process of a handover chain runs it.
type Serving struct {
	cancel context.CancelFunc
	done   chan error
}

// Start runs serve in a goroutine and returns once ready is closed; it fails the test if serve
// returns first or is not ready within 10s.
func Start(t testing.TB, ready <-chan struct{}, serve func(ctx context.Context) error) *Serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Serving{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- serve(ctx) }()
	select {
	case <-ready:
	case err := <-s.done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve not ready after 10s")
	}
	return s
}

// Stop ends serve's context, at a request boundary for a server of fuseconn's loops, and fails
// the test if serve fails or takes more than 10s to return.
func (s *Serving) Stop(t testing.TB) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s")
	}
}

// ServeInBackground is Start with Stop as a cleanup: registered after Mount's, it runs before
// the unmount.
func ServeInBackground(t testing.TB, ready <-chan struct{}, serve func(ctx context.Context) error) {
	t.Helper()
	s := Start(t, ready, serve)
	t.Cleanup(func() { s.Stop(t) })
}
