package fuseconn

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
)

// ServeRaw answers conn with raw until ctx ends or the connection goes away: one connection's
// life, top to bottom. An adopted conn is recovered from j first (Recover; j may be nil:
// nothing is journalled), the request loops start and are given to started, the kernel learns
// that the files do not poll (from a child process, DisablePoll), and ready is called once the
// mount answers; an error from it stops the loops and is returned. Either func may be nil. When ctx ends the loops stop
// at a request boundary (Loops.Wait) and ServeRaw returns once all have. procfsd's Serve
// (package fs), the benchmark's floor (bench/floor.go) and this package's tests serve through it.
func ServeRaw(ctx context.Context, conn *Conn, raw fuse.RawFileSystem, j *Journal, busyPoll time.Duration, log *zap.Logger,
	started func(*Loops), ready func() error) error {
	opts := ProtocolOptions()
	opts.Logger = zap.NewStdLog(log.Named("fuse"))
	ps := fuse.NewProtocolServer(raw, opts)
	conn.Recover(ps, j, log)
	loops, err := conn.Start(ps, j, busyPoll, log)
	if err != nil {
		return err
	}
	if started != nil {
		started(loops)
	}
	if err := conn.DisablePoll(); err != nil {
		loops.Stop()
		return err
	}
	if ready != nil {
		if err := ready(); err != nil {
			loops.Stop()
			return err
		}
	}
	err = loops.Wait(ctx)
	loops.Stop()
	return err
}

// NullFile is the name of a NullFS's one file.
const NullFile = "file"

// The null tree's node IDs: its root and NullFile.
const (
	nullRootID = fuse.FUSE_ROOT_ID
	nullFileID = 2
)

// The kernel's cache lifetimes of names and attributes in a tree that never changes, whose
// files are opened with direct I/O: procfsd's (fs/rawfs.go) and the null tree's. Cached this
// long, they let the kernel skip LOOKUP and GETATTR on the open→read→release path
// (docs/behaviour.md §5.2).
const (
	EntryTimeout = time.Hour
	AttrTimeout  = time.Hour
)

// NullFS is a null tree: one directory holding one file, NullFile, whose content is Content,
// opened with the flags procfsd's files use (direct I/O, no flush). Every answer is a constant,
// so that serving it costs what FUSE itself costs: the benchmark's floor (bench/floor.go).
type NullFS struct {
	fuse.RawFileSystem
	Content []byte
}

// NewNullFS returns a NullFS whose file holds content; what it does not answer itself, the
// default RawFileSystem answers (ENOSYS).
func NewNullFS(content []byte) *NullFS {
	return &NullFS{RawFileSystem: fuse.NewDefaultRawFileSystem(), Content: content}
}

func (f *NullFS) Lookup(_ <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	if h.NodeId != nullRootID || name != NullFile {
		return fuse.ENOENT
	}
	out.NodeId = nullFileID
	out.Generation = 1
	out.SetEntryTimeout(EntryTimeout)
	out.SetAttrTimeout(AttrTimeout)
	f.attr(nullFileID, &out.Attr)
	return fuse.OK
}

func (f *NullFS) Forget(nodeid, nlookup uint64) {}

func (f *NullFS) GetAttr(_ <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	if in.NodeId != nullRootID && in.NodeId != nullFileID {
		return fuse.ENOENT
	}
	out.SetTimeout(AttrTimeout)
	f.attr(in.NodeId, &out.Attr)
	return fuse.OK
}

func (f *NullFS) attr(id uint64, a *fuse.Attr) {
	a.Ino = id
	a.Nlink = 1
	a.Mode = syscall.S_IFREG | 0o444
	if id == nullRootID {
		a.Mode, a.Nlink = syscall.S_IFDIR|0o555, 2
	}
	a.Blksize = 4096
}

func (f *NullFS) Open(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if in.NodeId != nullFileID {
		return fuse.EISDIR
	}
	out.Fh = 1
	out.OpenFlags = fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH
	return fuse.OK
}

func (f *NullFS) Read(_ <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if in.Offset >= uint64(len(f.Content)) {
		return fuse.ReadResultData(nil), fuse.OK
	}
	data := f.Content[in.Offset:]
	return fuse.ReadResultData(data[:min(int(in.Size), len(data))]), fuse.OK
}

func (f *NullFS) Release(_ <-chan struct{}, in *fuse.ReleaseIn) {}

func (f *NullFS) Flush(_ <-chan struct{}, _ *fuse.FlushIn) fuse.Status { return fuse.ENOSYS }

func (f *NullFS) OpenDir(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if in.NodeId != nullRootID {
		return fuse.ENOTDIR
	}
	return fuse.OK
}

func (f *NullFS) StatFs(_ <-chan struct{}, _ *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	out.Bsize, out.NameLen, out.Frsize = 4096, 255, 4096
	return fuse.OK
}
