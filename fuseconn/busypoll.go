package fuseconn

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultBusyPoll is how long a request loop polls /dev/fuse for a request it expects before it
// sleeps (Config.BusyPoll, serve --busy-poll).
//
// A reader of a procfsd file sends three requests one after another (OPEN, READ, READ at EOF),
// each as soon as the answer to the one before wakes it. A server that sleeps between them must
// itself be woken three times per read, and on a virtual machine whose idle CPUs halt, waking a
// halted CPU is most of the cost of a request. Polling a few tens of µs first catches the
// reader's next request (10 µs is too short to see it); 20 µs cuts latency as much as 30 µs for
// less CPU (docs/read-path.md, "Busy polling where a request is certain"; figures in
// BENCHMARKS.md, "Busy polling").
const DefaultBusyPoll = 20 * time.Microsecond

// busyPoller decides when the loop about to wait polls first, and for how long. The poll is a
// bet that a request comes within the window; it is placed where the protocol makes that
// certain (a READ follows a successful OPEN, and another READ follows a READ that returned
// data: readers read to EOF), and elsewhere only while requests have lately followed answers
// within twice the window (a tool that reads several files in a row, or many readers), so that
// an agent reading a file once a second costs no polls beyond its own read.
type busyPoller struct {
	window time.Duration
	// hot is set while the last request a client waited for came within twice the window of the
	// answer before it.
	hot atomic.Bool
	// idleSince is when the last answer with no certain follow-up was written (Unix ns), 0 once
	// the next request a client waits for has been read.
	idleSince atomic.Int64
	// caught counts the requests read while polling (for the tests: nothing else reads it).
	caught atomic.Uint64
}

// answered records the answer to a request with opcode op whose reply is reply (nil when it
// takes none), and reports whether the next wait should poll first.
func (b *busyPoller) answered(op uint32, reply []byte) (poll bool) {
	if b.window <= 0 {
		return false
	}
	if followUpCertain(op, reply) {
		return true
	}
	b.idleSince.Store(time.Now().UnixNano())
	return b.hot.Load()
}

// arrived records a request with opcode op just read.
func (b *busyPoller) arrived(op uint32) {
	if b.window <= 0 || !clientWaits(op) {
		return
	}
	if t := b.idleSince.Swap(0); t != 0 {
		b.hot.Store(time.Duration(time.Now().UnixNano()-t) < 2*b.window)
	}
}

// poll reads fd until a request comes, the window passes or stop is set. Between tries it yields
// the CPU, so that a client runnable on this CPU runs first: with more readers than CPUs, a
// poll that does not yield takes the CPU from the very client whose request it waits for, and
// the readers' tail latency multiplies (BENCHMARKS.md, "Busy polling"). On a contended CPU a
// yield may last a scheduler slice, after which the window is over and the loop sleeps in
// epoll. It returns the last read's result, EAGAIN when nothing came.
func (b *busyPoller) poll(fd int, in []byte, stop *atomic.Bool) (int, error) {
	deadline := time.Now().Add(b.window)
	for {
		n, err := unix.Read(fd, in)
		if err == nil {
			b.caught.Add(1)
		}
		if !errors.Is(err, unix.EAGAIN) || stop.Load() || !time.Now().Before(deadline) {
			return n, err
		}
		unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
}

// followUpCertain reports whether the reply to a request with opcode op makes the client send
// another at once: a successful OPEN is followed by READ, and a READ that returned data by the
// next READ, until one returns nothing.
func followUpCertain(op uint32, reply []byte) bool {
	if len(reply) < outHeaderSize || binary.LittleEndian.Uint32(reply[4:8]) != 0 {
		return false // no reply, or an error
	}
	switch op {
	case opOpen:
		return true
	case opRead:
		return len(reply) > outHeaderSize
	}
	return false
}

// clientWaits reports whether a client waits for the answer to a request with opcode op: every
// request but RELEASE, which close sends in the background, and those that take no answer.
func clientWaits(op uint32) bool {
	switch op {
	case opRelease, opForget, opBatchForget, opInterrupt:
		return false
	}
	return true
}
