package fs

import (
	"procfsd/fuseconn"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// rawFS is the fuse.RawFileSystem over the static table. Everything not overridden answers
// ENOSYS from the embedded default; writes that would change the tree answer EROFS.
type rawFS struct {
	fuse.RawFileSystem
	srv  *Server
	tree *tree
	// mtime is the time every node reports, fixed so attributes stay cacheable.
	mtime time.Time
}

var _ fuse.RawFileSystem = (*rawFS)(nil)

func (r *rawFS) String() string { return "procfsd" }

func (r *rawFS) Lookup(_ <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	n := r.tree.byName[childKey{h.NodeId, name}]
	if n == nil {
		return fuse.ENOENT
	}
	out.NodeId = n.id
	out.Generation = 1
	out.SetEntryTimeout(fuseconn.EntryTimeout)
	out.SetAttrTimeout(fuseconn.AttrTimeout)
	r.fillAttr(n, &out.Attr)
	return fuse.OK
}

// Forget needs nothing: node IDs are fixed and never freed.
func (r *rawFS) Forget(nodeid, nlookup uint64) {}

func (r *rawFS) GetAttr(_ <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	n := r.tree.byID[in.NodeId]
	if n == nil {
		return fuse.ENOENT
	}
	out.SetTimeout(fuseconn.AttrTimeout)
	r.fillAttr(n, &out.Attr)
	return fuse.OK
}

// fillAttr reports procfs-like attributes: root-owned, size 0 (docs/behaviour.md §1.2: the content
// is computed per reader; see README "Troubleshooting" on splice/sendfile with kernels ≥ 6.5).
func (r *rawFS) fillAttr(n *node, a *fuse.Attr) {
	a.Ino = n.id
	a.Mode = n.fileMode()
	a.Nlink = 1
	if n.kind == kindDir {
		a.Nlink = 2
	}
	a.Blksize = 4096
	a.SetTimes(&r.mtime, &r.mtime, &r.mtime)
}

func (r *rawFS) Access(_ <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	n := r.tree.byID[in.NodeId]
	if n == nil {
		return fuse.ENOENT
	}
	if in.Mask&unixW != 0 && n.kind != kindControl {
		return fuse.EACCES
	}
	if in.Mask&unixX != 0 && n.kind != kindDir {
		return fuse.EACCES
	}
	return fuse.OK
}

const (
	unixW = 2 // W_OK
	unixX = 1 // X_OK
)

func (r *rawFS) Open(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	n := r.tree.byID[in.NodeId]
	switch {
	case n == nil:
		return fuse.ENOENT
	case n.kind == kindDir:
		return fuse.EISDIR
	case in.Flags&syscall.O_TRUNC != 0 && n.kind != kindControl:
		return fuse.EACCES
	case in.Flags&syscall.O_ACCMODE != syscall.O_RDONLY && n.kind != kindControl:
		return fuse.EACCES
	}
	if in.Flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		r.srv.mayBlock() // the opener's /proc files are read
		if err := r.srv.authorizeOpen(n, int(in.Caller.Pid), in.Caller.Uid); err != nil {
			return r.srv.status(err)
		}
	}
	out.Fh = r.srv.open(n, int(in.Caller.Pid), in.Caller.Uid)
	// Direct I/O: every read reaches us, so each reader gets its own container's numbers.
	// NOFLUSH: close() sends no FLUSH round trip; there is nothing to flush.
	out.OpenFlags = fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH
	return fuse.OK
}

func (r *rawFS) Read(_ <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	n := r.tree.byID[in.NodeId]
	if n == nil {
		return nil, fuse.ENOENT
	}
	h := r.srv.handles.get(in.Fh)
	if h == nil {
		// A handle this process never issued: the connection was handed over from a
		// predecessor (docs/behaviour.md §5). Handles are reconstructible: resolve the reader again.
		h = r.srv.handles.put(in.Fh, r.srv.newHandle(n, int(in.Caller.Pid), in.Caller.Uid))
	}
	data, err := r.srv.readAt(h, int64(in.Offset), int(in.Size))
	if err != nil {
		return nil, r.srv.status(err)
	}
	return fuse.ReadResultData(data), fuse.OK
}

func (r *rawFS) Write(_ <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	n := r.tree.byID[in.NodeId]
	if n == nil {
		return 0, fuse.ENOENT
	}
	if n.kind != kindControl {
		return 0, fuse.EACCES
	}
	r.srv.mayBlock() // a switch may drive the kernel's sysctls (switches/native.go)
	if err := r.srv.writeControl(n, int(in.Caller.Pid), in.Caller.Uid, data); err != nil {
		return 0, r.srv.status(err)
	}
	return uint32(len(data)), fuse.OK
}

func (r *rawFS) Release(_ <-chan struct{}, in *fuse.ReleaseIn) { r.srv.release(in.Fh) }

// Flush answers ENOSYS so the kernel stops sending it for this connection.
func (r *rawFS) Flush(_ <-chan struct{}, _ *fuse.FlushIn) fuse.Status { return fuse.ENOSYS }

func (r *rawFS) OpenDir(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	n := r.tree.byID[in.NodeId]
	if n == nil {
		return fuse.ENOENT
	}
	if n.kind != kindDir {
		return fuse.ENOTDIR
	}
	out.OpenFlags = fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
	return fuse.OK
}

func (r *rawFS) ReadDir(_ <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	n := r.tree.byID[in.NodeId]
	if n == nil {
		return fuse.ENOENT
	}
	entries := r.dirEntries(n)
	for i := int(in.Offset); i < len(entries); i++ {
		if !out.AddDirEntry(entries[i]) {
			break
		}
	}
	return fuse.OK
}

// dirEntries lists ".", ".." and the children; an entry's offset is its index + 1.
func (r *rawFS) dirEntries(n *node) []fuse.DirEntry {
	entries := []fuse.DirEntry{
		{Name: ".", Ino: n.id, Mode: syscall.S_IFDIR},
		{Name: "..", Ino: rootID, Mode: syscall.S_IFDIR},
	}
	for _, c := range r.tree.children[n.id] {
		entries = append(entries, fuse.DirEntry{Name: c.name(), Ino: c.id, Mode: c.fileMode()})
	}
	for i := range entries {
		entries[i].Off = uint64(i + 1)
	}
	return entries
}

func (r *rawFS) ReleaseDir(*fuse.ReleaseIn) {}

func (r *rawFS) StatFs(_ <-chan struct{}, _ *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	out.Bsize = 4096
	out.NameLen = 255
	out.Frsize = 4096
	return fuse.OK
}

// SetAttr allows only a no-op truncate to 0 of a control file (shells open them with
// O_TRUNC via "echo 0 >"); everything else would change the tree.
func (r *rawFS) SetAttr(_ <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	n := r.tree.byID[in.NodeId]
	if n == nil {
		return fuse.ENOENT
	}
	if n.kind == kindControl && in.Valid&^(fuse.FATTR_SIZE|fuse.FATTR_FH|fuse.FATTR_LOCKOWNER) == 0 && in.Size == 0 {
		out.SetTimeout(fuseconn.AttrTimeout)
		r.fillAttr(n, &out.Attr)
		return fuse.OK
	}
	if n.kind == kindDir {
		return fuse.EPERM
	}
	return fuse.EACCES
}

func (r *rawFS) Mknod(<-chan struct{}, *fuse.MknodIn, string, *fuse.EntryOut) fuse.Status {
	return fuse.EROFS
}
func (r *rawFS) Mkdir(<-chan struct{}, *fuse.MkdirIn, string, *fuse.EntryOut) fuse.Status {
	return fuse.EROFS
}
func (r *rawFS) Unlink(<-chan struct{}, *fuse.InHeader, string) fuse.Status { return fuse.EROFS }
func (r *rawFS) Rmdir(<-chan struct{}, *fuse.InHeader, string) fuse.Status  { return fuse.EROFS }
func (r *rawFS) Rename(<-chan struct{}, *fuse.RenameIn, string, string) fuse.Status {
	return fuse.EROFS
}
func (r *rawFS) Link(<-chan struct{}, *fuse.LinkIn, string, *fuse.EntryOut) fuse.Status {
	return fuse.EROFS
}
func (r *rawFS) Symlink(<-chan struct{}, *fuse.InHeader, string, string, *fuse.EntryOut) fuse.Status {
	return fuse.EROFS
}
func (r *rawFS) Create(<-chan struct{}, *fuse.CreateIn, string, *fuse.CreateOut) fuse.Status {
	return fuse.EROFS
}

// GetXAttr and ListXAttr keep the default ENOSYS, after which the kernel stops asking; a write to
// an attribute is a change to the tree and is refused like any other (docs/behaviour.md §1.2).
func (r *rawFS) SetXAttr(<-chan struct{}, *fuse.SetXAttrIn, string, []byte) fuse.Status {
	return fuse.EROFS
}
func (r *rawFS) RemoveXAttr(<-chan struct{}, *fuse.InHeader, string) fuse.Status {
	return fuse.EROFS
}
func (r *rawFS) Fallocate(<-chan struct{}, *fuse.FallocateIn) fuse.Status { return fuse.EROFS }
