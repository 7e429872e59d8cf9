package systemd

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// States a service reports with Notify (sd_notify(3)).
const (
	Ready     = "READY=1"     // start-up finished: the mount answers requests
	Reloading = "RELOADING=1" // a reload began; send Ready when it is over
	Stopping  = "STOPPING=1"  // shutdown began
	Watchdog  = "WATCHDOG=1"  // still alive, within WatchdogSec
)

// Status is a free-form status line, shown by systemctl status.
func Status(s string) string { return "STATUS=" + s }

// StoreFDs is the state that puts descriptors into the fd store under name; RemoveFDs drops
// every stored descriptor of that name (FileDescriptorStoreMax= must be set on the unit).
func StoreFDs(name string) string  { return "FDSTORE=1\nFDNAME=" + name }
func RemoveFDs(name string) string { return "FDSTOREREMOVE=1\nFDNAME=" + name }

// Notify sends state to the service manager. It reports false, and no error, when
// $NOTIFY_SOCKET is unset, that is when not run by systemd with Type=notify.
func Notify(state string) (bool, error) { return NotifyWithFDs(state) }

// NotifyWithFDs sends state with fds attached (SCM_RIGHTS), as FDSTORE=1 needs. The
// socket is a path or, with a leading '@', an abstract name.
func NotifyWithFDs(state string, fds ...int) (bool, error) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return false, nil
	}
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		return false, fmt.Errorf("notify %s: unsupported address (want a path or @name)", addr)
	}
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("notify %s: socket: %w", addr, err)
	}
	defer unix.Close(s)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	// x/sys/unix turns a leading '@' into the abstract namespace's NUL byte.
	if err := unix.Sendmsg(s, []byte(state), oob, &unix.SockaddrUnix{Name: addr}, 0); err != nil {
		return false, fmt.Errorf("notify %s: %w", addr, err)
	}
	return true, nil
}
