package systemd

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// listenFDsStart is SD_LISTEN_FDS_START: passed descriptors are numbered from 3.
const listenFDsStart = 3

// ListenFDs returns the descriptors systemd passed on start (sockets, or the fd store's
// contents after a restart), each named by $LISTEN_FDNAMES ("LISTEN_FD_<n>" when unnamed).
// They are set close-on-exec, and LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are removed from
// the environment so that no child mistakes them for its own (sd_listen_fds(3)). Nothing is
// returned when $LISTEN_PID names another process.
func ListenFDs() ([]*os.File, error) {
	pid, count, names := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	if pid == "" || count == "" {
		return nil, nil
	}
	p, err := strconv.Atoi(pid)
	if err != nil {
		return nil, fmt.Errorf("parse LISTEN_PID %q: %w", pid, err)
	}
	if p != os.Getpid() {
		return nil, nil
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("parse LISTEN_FDS %q: want a count", count)
	}
	var fdNames []string
	if names != "" {
		fdNames = strings.Split(names, ":")
	}
	files := make([]*os.File, 0, n)
	for fd := listenFDsStart; fd < listenFDsStart+n; fd++ {
		unix.CloseOnExec(fd)
		name := "LISTEN_FD_" + strconv.Itoa(fd)
		if i := fd - listenFDsStart; i < len(fdNames) && fdNames[i] != "" {
			name = fdNames[i]
		}
		files = append(files, os.NewFile(uintptr(fd), name))
	}
	return files, nil
}
