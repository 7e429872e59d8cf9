package fuseconn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

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
	// inHeaderSize is sizeof(struct fuse_in_header).
	inHeaderSize = 40
	// maxBackground is how many background requests the kernel may have outstanding (INIT's
	// max_background, default 12). Every close sends its RELEASE in the background, and the
	// file's snapshot is held until it arrives: with 12, RELEASEs come at 12 per queue
	// latency, far behind the closes on a busy node, and thousands of snapshots pile up
	// (docs/read-path.md, "Four scheduler slots at least, 1024 background requests").
	maxBackground = 1024
)

// FUSE opcodes the loops look at (include/uapi/linux/fuse.h).
const (
	opForget      = 2
	opOpen        = 14
	opRead        = 15
	opRelease     = 18
	opInit        = 26
	opInterrupt   = 36
	opBatchForget = 42
)

// opcode is a request's opcode, 0 for one too short to have a header.
func opcode(req []byte) uint32 {
	if len(req) < inHeaderSize {
		return 0
	}
	return binary.LittleEndian.Uint32(req[4:8])
}

// Conn is one FUSE connection: the /dev/fuse descriptor of a mount and, once the kernel has sent
// it, the INIT request that opened it. A successor process that inherits the descriptor replays
// INIT into its own protocol server to recover the negotiated session (docs/behaviour.md §5.1,
// docs/restarts.md).
type Conn struct {
	FD         int
	Mountpoint string

	mu   sync.Mutex
	init []byte
	// adopted marks a descriptor inherited from a predecessor (Adopt): its INIT is replayed and
	// the requests the predecessor left unanswered are recovered.
	adopted bool
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
	// No default_permissions: procfsd checks access itself (docs/behaviour.md §3: a container's root
	// may be a remapped uid, which mode bits cannot express).
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

// ProtocolOptions are the protocol server's options, the same for procfsd's tree and for the
// benchmark's floor, so that the floor measures the path procfsd's requests take.
func ProtocolOptions() *fuse.MountOptions {
	return &fuse.MountOptions{
		MaxWrite:      maxWrite,
		MaxBackground: maxBackground,
		// Plain READDIR: listings are tiny and attributes come from the kernel's cache.
		DisableReadDirPlus: true,
	}
}

// Loops is a connection's request loops. Each loop reads one request from the /dev/fuse
// descriptor, answers it and writes the reply; the kernel hands each request to exactly one
// reader.
//
// One loop at a time waits for requests; the others wait as spares, parked goroutines that cost
// nothing. A single waiter is the cheapest way through Go's runtime: every loop blocked in a
// system call holds a scheduler slot that the runtime's monitor keeps taking back and handing
// out again, waking threads to do it (docs/read-path.md, "One reader at a time, spares for slow
// answers"). A request that
// must wait for I/O (a cache miss: /proc, cgroup or Docker files) calls mayBlock first, which
// wakes a spare to read in its place while no loop waits, so that one slow answer never holds
// up the others; so does a loop that finds requests already queued three times in a row (a
// backlog). Reads do not block, so any number of loops may read while requests are queued: a
// woken loop keeps reading and answering until it finds the queue empty, and only then, if
// another loop already waits, becomes a spare again (parking it after every answer would cost
// a thread hand-off per request under load).
//
// The descriptor is non-blocking, and an idle reader waits in epoll on it and on an eventfd, so
// stop can end the loops at a request boundary: it sets stopping and signals the eventfd; each
// loop finishes the request it holds, writes its reply and reads no more (docs/behaviour.md §5: the
// successor answers what arrives meanwhile). Blocking reads on /dev/fuse could only be ended by
// a signal, and the runtime's handlers restart them.
type Loops struct {
	busy     busyPoller // the poll before a wait (busypoll.go)
	stopping atomic.Bool
	polling  atomic.Int32  // 1 while a loop waits in epoll for the next request, else 0 (then mayBlock wakes a spare)
	sleeps   atomic.Uint64 // waits in epoll, for tests of busy polling
	spare    chan struct{} // wakes a parked loop (mayBlock)
	done     chan struct{} // closed by stop
	wake     int           // eventfd that stop signals
	wg       sync.WaitGroup
	errc     chan error
	log      *zap.Logger
}

// Start starts the request loops that answer conn's requests with ps, polling busyPoll before
// they wait (0: never); j may be nil (nothing is journalled).
func (conn *Conn) Start(ps *fuse.ProtocolServer, j *Journal, busyPoll time.Duration, log *zap.Logger) (*Loops, error) {
	if err := unix.SetNonblock(conn.FD, true); err != nil {
		return nil, fmt.Errorf("set /dev/fuse non-blocking: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("create eventfd: %w", err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	l := &Loops{busy: busyPoller{window: busyPoll}, spare: make(chan struct{}, n), done: make(chan struct{}), wake: wake, errc: make(chan error, n), log: log}
	for i := range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.errc <- l.loop(conn, ps, j, j.slot(i))
		}()
	}
	return l, nil
}

// Wait returns when ctx ends (nil) or a loop fails or finds the connection gone (its error).
func (l *Loops) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-l.errc:
		return err
	}
}

// Stop ends the loops at a request boundary and returns once all have: each finishes the request it
// holds and writes its reply, then reads no more. Requests that arrive meanwhile wait in the kernel
// for whoever serves the descriptor next (a successor process, docs/behaviour.md §5).
func (l *Loops) Stop() {
	l.stopping.Store(true)
	close(l.done)
	unix.Write(l.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	l.wg.Wait()
	unix.Close(l.wake)
}

// MayBlock is called by a request about to wait for I/O: if no loop is waiting for the next
// request meanwhile, a spare starts to read. It is cheap when another loop waits (one atomic
// load). A nil Loops (nothing serving) does nothing.
func (l *Loops) MayBlock() {
	if l == nil || l.polling.Load() > 0 {
		return
	}
	select {
	case l.spare <- struct{}{}:
	default: // every spare is already woken
	}
}

// loop serves requests until stopping is set or the connection goes away. It reads first and
// waits only when nothing is queued, so a busy server pays no wait; before it sleeps in epoll it
// may poll for a request it expects (busypoll.go).
func (l *Loops) loop(conn *Conn, ps *fuse.ProtocolServer, j *Journal, slot journalSlot) error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("create epoll: %w", err)
	}
	defer unix.Close(ep)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, conn.FD, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(conn.FD)}); err != nil {
		return fmt.Errorf("poll /dev/fuse: %w", err)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, l.wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.wake)}); err != nil {
		return fmt.Errorf("poll eventfd: %w", err)
	}
	events := make([]unix.EpollEvent, 2)
	in := make([]byte, maxWrite+64<<10)
	out := make([]byte, maxRead+4096)
	queued := 0     // requests in a row that were already queued when this loop came to read (-1: none yet, the next was waited for)
	expect := false // the last answer makes a request likely soon: poll before sleeping
	for !l.stopping.Load() {
		n, err := unix.Read(conn.FD, in)
		if errors.Is(err, unix.EAGAIN) {
			// The request this loop now waits for was not queued: it does not count.
			queued = -1
			if !l.polling.CompareAndSwap(0, 1) { // another loop waits for the next request: be a spare
				select {
				case <-l.spare:
				case <-l.done:
				}
				continue
			}
			if expect {
				expect = false
				n, err = l.busy.poll(conn.FD, in, &l.stopping)
			}
			if errors.Is(err, unix.EAGAIN) {
				l.sleeps.Add(1)
				_, err = unix.EpollWait(ep, events, -1)
				l.polling.Store(0)
				if err != nil && !errors.Is(err, unix.EINTR) {
					return fmt.Errorf("poll /dev/fuse: %w", err)
				}
				continue
			}
			l.polling.Store(0)
		}
		switch {
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.ENOENT):
			continue // interrupted, or a request the kernel withdrew
		case errors.Is(err, unix.ENODEV):
			return nil // unmounted and released
		case err != nil:
			return fmt.Errorf("read /dev/fuse: %w", err)
		}
		// Requests queued one after another mean that they arrive faster than one loop
		// answers them (under load, or while other processes hold the CPU): a spare reads
		// beside this loop, and the load gets several threads, as it needs. One queued
		// request is common with a single client (its RELEASE, sent asynchronously, and its
		// next OPEN arrive together), so it takes three in a row. The request a loop waited
		// for does not count: else a lone client reading back to back would wake a spare on
		// every read, which would take the waiting role without the first loop's prediction of
		// what comes next (busypoll.go).
		if queued++; queued >= 3 {
			l.MayBlock()
		}
		op := opcode(in[:n])
		l.busy.arrived(op)
		reply, gone := l.answer(conn, ps, j, slot, op, in[:n], out)
		if gone {
			return nil
		}
		expect = l.busy.answered(op, reply)
	}
	return nil
}

// answer serves one request, of opcode op, and writes its reply, which it returns (nil for a request that
// takes none); it reports whether the connection is gone. The request is journalled while it is
// being answered (journal.go).
func (l *Loops) answer(conn *Conn, ps *fuse.ProtocolServer, j *Journal, slot journalSlot, op uint32, req, out []byte) (reply []byte, gone bool) {
	if op == opInit {
		conn.saveInit(req)
		if j != nil {
			j.SaveInit(req)
		}
	}
	slot.begin(req)
	defer slot.end()
	m, _ := ps.HandleRequest([][]byte{req}, [][]byte{out})
	if m == 0 {
		return nil, false // FORGET and friends take no reply
	}
	return out[:m], writeReply(conn, l.log, out[:m])
}

// writeReply writes one reply; it reports whether the connection is gone.
func writeReply(conn *Conn, log *zap.Logger, b []byte) (gone bool) {
	_, err := unix.Write(conn.FD, b)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		return false // ENOENT: the request was interrupted and withdrawn
	case errors.Is(err, unix.ENODEV):
		return true
	}
	log.Debug("write reply", zap.Error(err))
	return false
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
