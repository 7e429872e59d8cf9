package cgroupview

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxFile caps one read. The largest files read here are tasks/cgroup.threads of big cgroups
// (about 7 bytes per thread) and v1 memory.stat; 4 MiB is over half a million threads.
const maxFile = 4 << 20

// bufPool holds read buffers. procfs and cgroupfs report sizes of 0 or 4096, so a file is read
// into a buffer grown on demand instead of one sized by stat (procfs's ReadFileNoStat idea).
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 256<<10 {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// readFile reads the whole file at path into buf[:0] with open/read/close only: no stat, and
// no registration with the runtime poller (os.Open tries one on every file). Errors are
// "read <path>: <errno>", so errors.Is(err, fs.ErrNotExist) works.
func readFile(path string, buf []byte) ([]byte, error) {
	var pb [256]byte
	b, err := readPath(append(append(pb[:0], path...), 0), buf)
	if err != nil {
		return b, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// readPath is readFile for a NUL-terminated path already built in a byte slice, so that hot
// callers (Resolve's start-time check) allocate nothing. The error is the bare errno.
func readPath(path []byte, buf []byte) ([]byte, error) {
	return readPathUntil(path, buf, false)
}

// readOneShow is readPath for a file the kernel produces by one seq_file show (single_open:
// every /proc/<pid> file such as stat). The kernel hands out the whole show at once when the
// buffer holds it, so a read that returns less than the room given has returned all of it, and
// the read that would return 0 is left out: one system call of four per thread the load
// sampler counts.
func readOneShow(path []byte, buf []byte) ([]byte, error) {
	return readPathUntil(path, buf, true)
}

func readPathUntil(path []byte, buf []byte, shortIsEOF bool) ([]byte, error) {
	fd, err := openat(path)
	if err != nil {
		return buf[:0], err
	}
	defer unix.Close(fd)
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxFile {
				return buf, fmt.Errorf("file larger than %d bytes", maxFile)
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return buf, err
		}
		if n == 0 {
			return buf, nil
		}
		room := cap(buf) - len(buf)
		buf = buf[:len(buf)+n]
		if shortIsEOF && n < room {
			return buf, nil
		}
	}
}

var atFDCWD = unix.AT_FDCWD

func openat(path []byte) (int, error) {
	for {
		fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(&path[0])),
			uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(fd), nil
	}
}

// unlimitedFloor: any v1 limit at or above it is "no limit". The kernel prints PAGE_COUNTER_MAX
// rounded down to the page size (9223372036854771712 with 4 KiB pages, less with 64 KiB pages);
// no real limit comes within 1 MiB of 2^63.
const unlimitedFloor = math.MaxInt64 - (1 << 20)

// parseLimit parses a limit file ("max", "-1" or a number, with a trailing newline). It and
// limitValue are the one place "no limit" becomes Unlimited (see Unlimited).
func parseLimit(b []byte) (uint64, error) {
	b = bytes.TrimSpace(b)
	switch string(b) {
	case "max", "-1":
		return Unlimited, nil
	}
	v, err := parseUint(b)
	if err != nil {
		return 0, err
	}
	return limitValue(v), nil
}

// limitValue maps a parsed limit to Unlimited where it is one (v1's PAGE_COUNTER_MAX in bytes).
func limitValue(v uint64) uint64 {
	if v >= unlimitedFloor {
		return Unlimited
	}
	return v
}

// parseUint parses a decimal uint64 without allocating.
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, errors.New("empty number")
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad number %q", string(b)) // a copy, so b stays on the caller's stack
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, fmt.Errorf("number %q overflows", string(b))
		}
		v = v*10 + d
	}
	return v, nil
}

// parseInt parses a small non-negative decimal int (a PID, a CPU number).
func parseInt(b []byte) (int, error) {
	v, err := parseUint(b)
	if err != nil {
		return 0, err
	}
	if v > math.MaxInt32 {
		return 0, fmt.Errorf("number %q out of range", string(b))
	}
	return int(v), nil
}

// nextLine splits b at the first newline: the line (without it) and the rest.
func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// cutField splits a line at the first run of blanks: the first field and the rest (trimmed).
func cutField(b []byte) (field, rest []byte) {
	b = bytes.TrimLeft(b, " \t")
	i := bytes.IndexAny(b, " \t")
	if i < 0 {
		return b, nil
	}
	return b[:i], bytes.TrimLeft(b[i:], " \t")
}

// forEachKV calls fn for each "key value" line of a flat-keyed cgroup file (memory.stat,
// cpu.stat, cpuacct.stat), matching keys exactly. It stops at fn's first error.
func forEachKV(b []byte, fn func(key []byte, val uint64) error) error {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		k, v := cutField(line)
		n, err := parseUint(bytes.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("line %q: %w", line, err)
		}
		if err := fn(k, n); err != nil {
			return err
		}
	}
	return nil
}

// itoa appends a decimal int; a thin name for strconv.AppendInt in path building.
func itoa(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }
