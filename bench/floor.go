package main

import (
	"context"
	"syscall"
	"time"

	"procfsd/fuseconn"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
)

// ServeFloor answers conn (made by fuseconn.Mount, so with procfsd's mount options) with a
// null tree: one directory holding one file, FloorFile, whose content is the constant content,
// opened with the flags procfsd's files use (direct I/O, no flush). Requests go through the
// same /dev/fuse loops and protocol-server options as procfsd's Serve, without a journal, state
// or control socket, until ctx ends or the connection goes away. The harness reads it as the
// FUSE floor: the cost of a read that does no work of its own, so that procfsd's latency
// divided by the floor's isolates procfsd's own work.
func ServeFloor(ctx context.Context, conn *fuseconn.Conn, content []byte) error {
	opts := fuseconn.ProtocolOptions()
	opts.DisableXAttrs = true
	ps := fuse.NewProtocolServer(&floorFS{RawFileSystem: fuse.NewDefaultRawFileSystem(), content: content}, opts)
	loops, err := conn.Start(ps, nil, fuseconn.DefaultBusyPoll, zap.NewNop()) // a nil journal journals nothing
	if err != nil {
		return err
	}
	if err := conn.DisablePollHere(); err != nil {
		loops.Stop()
		return err
	}
	err = loops.Wait(ctx)
	loops.Stop()
	return err
}

// FloorFile is the name of the floor's one file.
const FloorFile = "file"

// floorFileID is its node ID; the root is rootID.
const (
	rootID      = fuse.FUSE_ROOT_ID
	floorFileID = 2
)

// The kernel's cache lifetimes of names and attributes, procfsd's (fs/rawfs.go).
const (
	entryTimeout = time.Hour
	attrTimeout  = time.Hour
)

// floorFS is the null RawFileSystem: every answer is a constant.
type floorFS struct {
	fuse.RawFileSystem
	content []byte
}

func (f *floorFS) Lookup(_ <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	if h.NodeId != rootID || name != FloorFile {
		return fuse.ENOENT
	}
	out.NodeId = floorFileID
	out.Generation = 1
	out.SetEntryTimeout(entryTimeout)
	out.SetAttrTimeout(attrTimeout)
	f.attr(floorFileID, &out.Attr)
	return fuse.OK
}

func (f *floorFS) Forget(nodeid, nlookup uint64) {}

func (f *floorFS) GetAttr(_ <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	if in.NodeId != rootID && in.NodeId != floorFileID {
		return fuse.ENOENT
	}
	out.SetTimeout(attrTimeout)
	f.attr(in.NodeId, &out.Attr)
	return fuse.OK
}

func (f *floorFS) attr(id uint64, a *fuse.Attr) {
	a.Ino = id
	a.Nlink = 1
	a.Mode = syscall.S_IFREG | 0o444
	if id == rootID {
		a.Mode, a.Nlink = syscall.S_IFDIR|0o555, 2
	}
	a.Blksize = 4096
}

func (f *floorFS) Open(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if in.NodeId != floorFileID {
		return fuse.EISDIR
	}
	out.Fh = 1
	out.OpenFlags = fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH
	return fuse.OK
}

func (f *floorFS) Read(_ <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if in.Offset >= uint64(len(f.content)) {
		return fuse.ReadResultData(nil), fuse.OK
	}
	data := f.content[in.Offset:]
	return fuse.ReadResultData(data[:min(int(in.Size), len(data))]), fuse.OK
}

func (f *floorFS) Release(_ <-chan struct{}, in *fuse.ReleaseIn) {}

func (f *floorFS) Flush(_ <-chan struct{}, _ *fuse.FlushIn) fuse.Status { return fuse.ENOSYS }

func (f *floorFS) OpenDir(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if in.NodeId != rootID {
		return fuse.ENOTDIR
	}
	return fuse.OK
}

func (f *floorFS) StatFs(_ <-chan struct{}, _ *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	out.Bsize, out.NameLen, out.Frsize = 4096, 255, 4096
	return fuse.OK
}
