package statedir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Files that something besides the kernel writes are read with a bound, so that a damaged or
// hostile file costs a log line, not the daemon: a config.v2.json pointing at /dev/zero would
// grow it until the OOM killer ends it, and every container would then read ENOTCONN.
// Each bound is far above the largest file procfsd or the engine
// writes; over it, the caller logs once and falls back (defaults, the host file).
const (
	// MaxDockerConfig bounds a Docker config.v2.json. Real ones are a few KiB; the environment,
	// their largest part, is at most what execve accepts (a quarter of the default 8 MiB stack,
	// 2 MiB), so 8 MiB leaves room for labels and mounts.
	MaxDockerConfig = 8 << 20
	// MaxStateFile bounds switches.json. One entry with 15 v1 controllers under Kubernetes'
	// systemd paths is about 3.5 KiB indented, 35 MiB for 10,000 containers.
	MaxStateFile = 64 << 20
	// MaxHistoryFile bounds history.json. One container with 256 visible CPUs, 15 v1
	// controllers under Kubernetes' systemd paths and 13-digit counters is about 20 KiB,
	// 200 MiB for 10,000 containers; a host with fewer CPUs writes a fraction of that.
	MaxHistoryFile = 256 << 20
)

// ErrTooLarge marks a file over its read bound.
var ErrTooLarge = errors.New("larger than the read bound")

// ReadRegular reads the regular file at path, at most limit bytes. Anything else is refused
// before it is opened where possible: a device such as /dev/zero never ends, and opening a FIFO
// waits for a writer, which would hold a FUSE request forever; the open is non-blocking in case
// one is swapped in between. Errors read "read <path>: ..."; a missing file satisfies
// errors.Is(err, os.ErrNotExist), one over the bound errors.Is(err, ErrTooLarge).
func ReadRegular(path string, limit int64) ([]byte, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	} else if err := checkRegular(fi, limit); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	b, err := readOpenRegular(f, limit)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// readOpenRegular reads the open f, at most limit bytes, once fstat shows it a regular file
// within the bound: checked on the descriptor, so that a file swapped in after a check by name
// is refused too.
func readOpenRegular(f *os.File, limit int64) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkRegular(fi, limit); err != nil {
		return nil, err
	}
	return ReadLimited(f, limit, fi.Size())
}

func checkRegular(fi os.FileInfo, limit int64) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file but a %s", fileType(fi.Mode()))
	}
	if fi.Size() > limit {
		return fmt.Errorf("%w: %d bytes, the bound is %d", ErrTooLarge, fi.Size(), limit)
	}
	return nil
}

// ReadLimited reads r to its end, at most limit bytes: no more than limit+1 bytes are taken
// from it, and a reader with more is ErrTooLarge. size is the expected length (0 if unknown),
// so that a file that keeps its size is read into one allocation.
func ReadLimited(r io.Reader, limit, size int64) ([]byte, error) {
	lr := io.LimitReader(r, limit+1)
	b := make([]byte, 0, min(max(size, 512), limit)+1) // +1: the read that returns EOF needs room
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

func fileType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "block device"
	}
	return m.Type().String()
}
