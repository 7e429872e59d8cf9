package fs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

const (
	// maxRead is the largest READ the kernel sends (mount option max_read and INIT's
	// max_pages). A 64-CPU cpuinfo is about 90 KiB, so most files come back in one request.
	maxRead = 128 << 10
	// maxWrite bounds a WRITE; only the control files take writes, of a few bytes.
	maxWrite = 128 << 10
	// opInit is FUSE_INIT's opcode (include/uapi/linux/fuse.h).
	opInit = 26
	// inHeaderSize is sizeof(struct fuse_in_header).
	inHeaderSize = 40
)

// Conn is one FUSE connection: the /dev/fuse descriptor of a mount and, once the kernel has
// sent it, the INIT request that opened it. A successor process that inherits the descriptor
// replays INIT into its own protocol server to recover the negotiated session (SPEC §5,
// reference/handover.md).
type Conn struct {
	FD         int
	Mountpoint string

	mu   sync.Mutex
	init []byte
}

// Mount opens /dev/fuse and mounts a procfsd tree at mountpoint, creating the directory.
func Mount(mountpoint string) (*Conn, error) {
	if err := os.MkdirAll(mountpoint, 0o755); err != nil {
		return nil, fmt.Errorf("create mountpoint: %w", err)
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/fuse: %w", err)
	}
	// No default_permissions: procfsd checks access itself (SPEC §3: a container's root may
	// be a remapped uid, which mode bits cannot express).
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,max_read=%d", fd, maxRead)
	if err := unix.Mount("procfsd", mountpoint, "fuse.procfsd", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	return &Conn{FD: fd, Mountpoint: mountpoint}, nil
}

// Unmount detaches the mount. Bind mounts of its files elsewhere keep the connection alive
// until the descriptor is closed.
func (c *Conn) Unmount() error {
	if err := unix.Unmount(c.Mountpoint, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount %s: %w", c.Mountpoint, err)
	}
	return nil
}

// InitRequest returns the saved INIT request, nil before the kernel sent it.
func (c *Conn) InitRequest() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.init
}

func (c *Conn) saveInit(req []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init = append([]byte(nil), req...)
}

// Serve answers the connection's requests until ctx ends or the connection goes away. It runs
// the load sampler beside the request loops.
func (s *Server) Serve(ctx context.Context, conn *Conn) error {
	ps := fuse.NewProtocolServer(s.fs, &fuse.MountOptions{
		MaxWrite:      maxWrite,
		DisableXAttrs: true,
		// Plain READDIR: listings are tiny and attributes come from the kernel's cache.
		DisableReadDirPlus: true,
		Logger:             zap.NewStdLog(s.log.Named("fuse")),
	})
	if init := conn.InitRequest(); init != nil {
		// Adopted connection: the kernel will not send INIT again; replay it.
		ps.HandleRequest([][]byte{init}, [][]byte{make([]byte, 4096)})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.sampleLoads(ctx)

	readers := max(4, 2*runtime.GOMAXPROCS(0))
	errc := make(chan error, readers)
	for range readers {
		go func() { errc <- s.loop(conn, ps) }()
	}
	if err := pollHack(conn.Mountpoint); err != nil {
		return err
	}
	if err := s.startControl(ctx); err != nil { // control socket and switch saver (switch_server.go)
		return err
	}
	if s.cfg.OnReady != nil {
		s.cfg.OnReady()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// loop reads one request at a time, answers it and writes the reply. Several loops share the
// descriptor; the kernel hands each request to exactly one reader.
func (s *Server) loop(conn *Conn, ps *fuse.ProtocolServer) error {
	in := make([]byte, maxWrite+64<<10)
	out := make([]byte, maxRead+4096)
	for {
		n, err := unix.Read(conn.FD, in)
		switch {
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN), errors.Is(err, unix.ENOENT):
			continue // interrupted, or a request the kernel withdrew
		case errors.Is(err, unix.ENODEV):
			return nil // unmounted and released
		case err != nil:
			return fmt.Errorf("read /dev/fuse: %w", err)
		}
		req := in[:n]
		if n >= inHeaderSize && binary.LittleEndian.Uint32(req[4:8]) == opInit {
			conn.saveInit(req)
		}
		m, _ := ps.HandleRequest([][]byte{req}, [][]byte{out})
		if m == 0 {
			continue // FORGET and friends take no reply
		}
		if _, err := unix.Write(conn.FD, out[:m]); err != nil && !errors.Is(err, unix.ENOENT) {
			if errors.Is(err, unix.ENODEV) {
				return nil
			}
			s.log.Debug("write reply", zap.Error(err))
		}
	}
}

// pollHack makes the kernel learn, before any client opens a file, that procfsd does not
// implement POLL. Go programs register every opened file with epoll; for a FUSE file that
// sends POLL while the opener holds its scheduler slot, which a garbage collection can turn
// into a deadlock when the opener and the server share a process (go-fuse's poll.go has the
// same step). The protocol server answers the hidden name itself with ENOSYS, after which the
// kernel stops asking for the life of the connection.
func pollHack(mountpoint string) error {
	fd, err := unix.Open(filepath.Join(mountpoint, ".go-fuse-epoll-hack"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("disable poll on %s: %w", mountpoint, err)
	}
	defer unix.Close(fd)
	unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
	return nil
}
