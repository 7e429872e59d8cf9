package fs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// maxHostFile caps a host file read; /proc/cpuinfo of a 1024-CPU machine is about 1.5 MiB.
const maxHostFile = 8 << 20

// readFileNoStat reads a whole procfs file with open, read and close only. os.ReadFile also
// fstats the file (procfs reports size 0, so that is wasted) and registers it with the
// runtime poller; this saves two system calls per host file.
func readFileNoStat(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 8192)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxHostFile {
				return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxHostFile)
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}
