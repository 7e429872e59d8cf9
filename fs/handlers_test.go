package fs

import (
	"bytes"
	"encoding/binary"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap/zaptest"

	"procfsd/fuseconn"
)

// The request handlers answer the bytes the kernel sends on /dev/fuse, without a mount: the
// tests below feed raw requests to the protocol server that procfsd's loops feed (fuseconn),
// over a fixture host and cgroup tree, and check the raw replies. They need no root.

// FUSE opcodes (include/uapi/linux/fuse.h).
const (
	testOpLookup  = 1
	testOpGetattr = 3
	testOpOpen    = 14
	testOpRead    = 15
	testOpWrite   = 16
	testOpRelease = 18
	testOpInit    = 26
)

// fixtureReader is a process of the fixture container /docker/3f2a9c1e7b5d, whose memory limit
// is 1 GiB (testdata/cgroup/v1-docker) on a host of about 24 GB (testdata/hosts/debian12-2cpu).
const fixtureReader = 1000

// wire is a protocol server over a Server on the fixture, spoken to in raw bytes.
type wire struct {
	t      *testing.T
	srv    *Server
	ps     *fuse.ProtocolServer
	unique uint64
}

func newWire(t *testing.T) *wire {
	t.Helper()
	// One --proc-root with the host's files and the fixture processes.
	procRoot := filepath.Join(t.TempDir(), "proc")
	for _, src := range []string{"../testdata/hosts/debian12-2cpu/proc/.", "../testdata/proc-pids/v1-docker/."} {
		if out, err := exec.Command("cp", "-a", "-T", src, procRoot).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v: %s", src, err, out)
		}
	}
	srv, err := New(Config{ProcRoot: procRoot, CgroupRoot: "../testdata/cgroup/v1-docker", StatsIsolated: true,
		Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{t: t, srv: srv, ps: fuse.NewProtocolServer(srv.fs, fuseconn.ProtocolOptions())}
	init := fuse.InitIn{Major: 7, Minor: 31, MaxReadAhead: 128 << 10}
	if errno, _ := w.call(testOpInit, 0, 0, &init, nil); errno != 0 {
		t.Fatalf("INIT: errno %d", errno)
	}
	return w
}

// call sends one request: op on node from pid, its fixed part in (a go-fuse *XxxIn whose
// header call fills), then tail (a name, a write's data). It returns the reply's errno (0, or
// a positive errno) and body; a request that takes no reply returns -1.
func (w *wire) call(op uint32, node uint64, pid uint32, in any, tail []byte) (errno int, body []byte) {
	w.t.Helper()
	w.unique++
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, in); err != nil {
		w.t.Fatalf("encode %T: %v", in, err)
	}
	b.Write(tail)
	req := b.Bytes()
	hdr := fuse.InHeader{Length: uint32(len(req)), Opcode: op, Unique: w.unique, NodeId: node,
		Caller: fuse.Caller{Pid: pid}}
	var h bytes.Buffer
	binary.Write(&h, binary.LittleEndian, &hdr)
	copy(req, h.Bytes())
	out := make([]byte, 256<<10)
	m, _ := w.ps.HandleRequest([][]byte{req}, [][]byte{out})
	if m == 0 {
		return -1, nil
	}
	reply := out[:m]
	if len(reply) < 16 || binary.LittleEndian.Uint32(reply[0:4]) != uint32(m) ||
		binary.LittleEndian.Uint64(reply[8:16]) != w.unique {
		w.t.Fatalf("opcode %d: malformed reply %x", op, reply[:min(len(reply), 16)])
	}
	return -int(int32(binary.LittleEndian.Uint32(reply[4:8]))), reply[16:]
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := binary.Read(bytes.NewReader(body), binary.LittleEndian, &v); err != nil {
		t.Fatalf("decode %T from %d bytes: %v", v, len(body), err)
	}
	return v
}

// lookup resolves path one name at a time from the root and returns its entry.
func (w *wire) lookup(names ...string) fuse.EntryOut {
	w.t.Helper()
	var e fuse.EntryOut
	node := uint64(rootID)
	for _, name := range names {
		errno, body := w.call(testOpLookup, node, fixtureReader, &fuse.InHeader{}, append([]byte(name), 0))
		if errno != 0 {
			w.t.Fatalf("LOOKUP %s: errno %d", name, errno)
		}
		e = decode[fuse.EntryOut](w.t, body)
		node = e.NodeId
	}
	return e
}

func (w *wire) open(node uint64, flags uint32) (errno int, out fuse.OpenOut) {
	w.t.Helper()
	errno, body := w.call(testOpOpen, node, fixtureReader, &fuse.OpenIn{Flags: flags}, nil)
	if errno == 0 {
		out = decode[fuse.OpenOut](w.t, body)
	}
	return errno, out
}

func (w *wire) read(node, fh, off uint64, size uint32) []byte {
	w.t.Helper()
	errno, body := w.call(testOpRead, node, fixtureReader, &fuse.ReadIn{Fh: fh, Offset: off, Size: size}, nil)
	if errno != 0 {
		w.t.Fatalf("READ at %d: errno %d", off, errno)
	}
	return body
}

// TestRequestBytes: LOOKUP, GETATTR, OPEN, READ and RELEASE of /proc/meminfo by a process of
// the fixture container, as the kernel sends them: the reply carries the fixed node ID and
// procfs-like attributes, the open asks for direct I/O, the read is the container's meminfo
// (its 1 GiB limit, not the host's RAM) cut at the requested size and continued from the
// snapshot, and the release forgets the handle.
func TestRequestBytes(t *testing.T) {
	w := newWire(t)
	if errno, _ := w.call(testOpLookup, rootID, fixtureReader, &fuse.InHeader{}, []byte("nope\x00")); errno != int(syscall.ENOENT) {
		t.Errorf("LOOKUP of a name not in the tree: errno %d, want ENOENT", errno)
	}
	e := w.lookup("proc", "meminfo")
	if e.NodeId != 11 || e.Attr.Ino != 11 || e.Attr.Mode != syscall.S_IFREG|0o444 || e.Attr.Size != 0 || e.EntryValid != 3600 {
		t.Errorf("LOOKUP proc/meminfo: node %d, ino %d, mode %#o, size %d, valid %ds; want node 11, a 0444 file of size 0 cached an hour",
			e.NodeId, e.Attr.Ino, e.Attr.Mode, e.Attr.Size, e.EntryValid)
	}
	errno, body := w.call(testOpGetattr, e.NodeId, fixtureReader, &fuse.GetAttrIn{}, nil)
	if a := decode[fuse.AttrOut](t, body); errno != 0 || a.Attr != e.Attr {
		t.Errorf("GETATTR: errno %d, %+v; want the LOOKUP's attributes %+v", errno, a.Attr, e.Attr)
	}

	errno, o := w.open(e.NodeId, syscall.O_RDONLY)
	if errno != 0 || o.Fh == 0 || o.OpenFlags != fuse.FOPEN_DIRECT_IO|fuse.FOPEN_NOFLUSH {
		t.Fatalf("OPEN: errno %d, fh %d, flags %#x; want a handle with direct I/O and no flush", errno, o.Fh, o.OpenFlags)
	}
	whole := w.read(e.NodeId, o.Fh, 0, 128<<10)
	if !regexp.MustCompile(`(?m)^MemTotal: +1048576 kB$`).Match(whole) {
		t.Errorf("READ: the container's meminfo should show its 1 GiB limit:\n%s", whole)
	}
	// A reader with a small buffer: offset 0 renders afresh, later offsets continue it.
	var pieces []byte
	for off := 0; ; {
		b := w.read(e.NodeId, o.Fh, uint64(off), 100)
		if len(b) > 100 {
			t.Fatalf("READ of 100 bytes at %d returned %d", off, len(b))
		}
		if len(b) == 0 {
			break
		}
		pieces = append(pieces, b...)
		off += len(b)
	}
	if !bytes.Equal(pieces, whole) {
		t.Errorf("READ in 100-byte pieces: %d bytes, want the %d of one read", len(pieces), len(whole))
	}
	if n := w.srv.handles.count(); n != 1 {
		t.Errorf("%d handles open, want 1", n)
	}
	if errno, _ := w.call(testOpRelease, e.NodeId, fixtureReader, &fuse.ReleaseIn{Fh: o.Fh}, nil); errno > 0 {
		t.Errorf("RELEASE: errno %d", errno)
	}
	if n := w.srv.handles.count(); n != 0 {
		t.Errorf("%d handles open after RELEASE, want 0", n)
	}
}

// TestRequestBytesRefuseWrites: a virtual file cannot be opened for writing, and a WRITE that
// reaches it anyway changes nothing and answers EACCES; the switch file reads the reader's
// switch.
func TestRequestBytesRefuseWrites(t *testing.T) {
	w := newWire(t)
	e := w.lookup("proc", "meminfo")
	if errno, _ := w.open(e.NodeId, syscall.O_WRONLY); errno != int(syscall.EACCES) {
		t.Errorf("OPEN for writing: errno %d, want EACCES", errno)
	}
	_, o := w.open(e.NodeId, syscall.O_RDONLY)
	before := w.read(e.NodeId, o.Fh, 0, 128<<10)
	data := []byte("MemTotal: 1 kB\n")
	errno, _ := w.call(testOpWrite, e.NodeId, fixtureReader, &fuse.WriteIn{Fh: o.Fh, Size: uint32(len(data))}, data)
	if errno != int(syscall.EACCES) {
		t.Errorf("WRITE to a virtual file: errno %d, want EACCES", errno)
	}
	if after := w.read(e.NodeId, o.Fh, 0, 128<<10); !bytes.Equal(after, before) {
		t.Errorf("the file changed after a refused WRITE:\n%s", after)
	}

	sw := w.lookup("proc", "sys", "kernel", "container_stats_isolated")
	if sw.Attr.Mode != syscall.S_IFREG|0o644 {
		t.Errorf("container_stats_isolated: mode %#o, want a 0644 file", sw.Attr.Mode)
	}
	_, so := w.open(sw.NodeId, syscall.O_RDONLY)
	if got := w.read(sw.NodeId, so.Fh, 0, 4096); string(got) != "1\n" {
		t.Errorf("container_stats_isolated read by the container: %q, want \"1\\n\"", got)
	}
}
