package fuseconn

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"procfsd/internal/testenv"
)

// server serves raw file systems through the loops, as procfsd's Serve and the benchmark's
// floor do, and lets the test's file system call mayBlock as procfsd's requests do.
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
	opts := ProtocolOptions()
	opts.DisableXAttrs = true
	ps := fuse.NewProtocolServer(raw, opts)
	conn.Recover(ps, s.journal, s.log)
	loops, err := conn.Start(ps, s.journal, s.busyPoll, s.log)
	if err != nil {
		return err
	}
	s.loops.Store(loops)
	if err := conn.DisablePollHere(); err != nil {
		loops.Stop()
		return err
	}
	if ready != nil {
		ready()
	}
	err = loops.Wait(ctx)
	loops.Stop()
	return err
}

func serveRawForTest(t *testing.T, srv *server, raw fuse.RawFileSystem) string {
	t.Helper()
	conn := mountRaw(t)
	ready := make(chan struct{})
	serveInBackground(t, ready, func(ctx context.Context) error {
		return srv.serveRaw(ctx, conn, raw, func() { close(ready) })
	})
	return conn.Mountpoint
}

// mountRaw mounts a tree without serving it; cleanup unmounts it and closes the descriptor.
func mountRaw(t testing.TB) *Conn {
	t.Helper()
	testenv.RequireFUSE(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	conn, err := Mount(dir)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		if err := conn.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
		unix.Close(conn.FD)
	})
	return conn
}

// serveInBackground runs serve in a goroutine and returns once ready is closed; cleanup ends
// serve's context and waits for it (before the unmount that mountRaw's cleanup does).
func serveInBackground(t testing.TB, ready <-chan struct{}, serve func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

// nullFS is the benchmark's floor (bench/floor.go) in small: one file, nullFile, whose content
// is a constant.
type nullFS struct {
	fuse.RawFileSystem
	content []byte
}

const (
	nullFile   = "file"
	rootID     = fuse.FUSE_ROOT_ID
	nullFileID = 2
)

func (f *nullFS) Lookup(_ <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	if h.NodeId != rootID || name != nullFile {
		return fuse.ENOENT
	}
	out.NodeId = nullFileID
	out.Generation = 1
	out.SetEntryTimeout(time.Hour)
	out.SetAttrTimeout(time.Hour)
	f.attr(nullFileID, &out.Attr)
	return fuse.OK
}

func (f *nullFS) Forget(nodeid, nlookup uint64) {}

func (f *nullFS) GetAttr(_ <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	if in.NodeId != rootID && in.NodeId != nullFileID {
		return fuse.ENOENT
	}
	out.SetTimeout(time.Hour)
	f.attr(in.NodeId, &out.Attr)
	return fuse.OK
}

func (f *nullFS) attr(id uint64, a *fuse.Attr) {
	a.Ino = id
	a.Nlink = 1
	a.Mode = syscall.S_IFREG | 0o444
	if id == rootID {
		a.Mode, a.Nlink = syscall.S_IFDIR|0o555, 2
	}
	a.Blksize = 4096
}

func (f *nullFS) Open(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if in.NodeId != nullFileID {
		return fuse.EISDIR
	}
	out.Fh = 1
	out.OpenFlags = fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH
	return fuse.OK
}

func (f *nullFS) Read(_ <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if in.Offset >= uint64(len(f.content)) {
		return fuse.ReadResultData(nil), fuse.OK
	}
	data := f.content[in.Offset:]
	return fuse.ReadResultData(data[:min(int(in.Size), len(data))]), fuse.OK
}

func (f *nullFS) Release(_ <-chan struct{}, in *fuse.ReleaseIn) {}

func (f *nullFS) Flush(_ <-chan struct{}, _ *fuse.FlushIn) fuse.Status { return fuse.ENOSYS }

func (f *nullFS) OpenDir(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if in.NodeId != rootID {
		return fuse.ENOTDIR
	}
	return fuse.OK
}

func (f *nullFS) StatFs(_ <-chan struct{}, _ *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	out.Bsize, out.NameLen, out.Frsize = 4096, 255, 4096
	return fuse.OK
}
