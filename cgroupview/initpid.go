package cgroupview

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// initFinder returns the host PID of PID 1 of the PID namespace that pid is in; ns is that
// namespace's inode. Tests inject fakes.
type initFinder interface {
	findInit(pid int, ns uint64) (int, error)
}

var errNoInit = errors.New("no init found for pid namespace")

// ioctlFinder asks the kernel: NS_GET_TGID_FROM_PIDNS on an nsfs fd translates a PID of that
// namespace (here 1) into the caller's PID namespace (Linux ≥ 6.11, "nsfs: add pid translation
// ioctls"). It is only correct when procRoot shows the daemon's own PID namespace, which New
// checks. Older kernels answer ENOTTY, after which the finder switches itself off.
type ioctlFinder struct {
	procRoot    string
	unsupported atomic.Bool
}

func (f *ioctlFinder) findInit(pid int, _ uint64) (int, error) {
	if f.unsupported.Load() {
		return 0, errors.ErrUnsupported
	}
	path := f.procRoot + "/" + strconv.Itoa(pid) + "/ns/pid"
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, procErr(path, err)
	}
	defer unix.Close(fd)
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.NS_GET_TGID_FROM_PIDNS), 1)
	switch e {
	case 0:
		return int(r), nil
	case unix.ENOTTY, unix.EINVAL:
		f.unsupported.Store(true)
		return 0, fmt.Errorf("ioctl NS_GET_TGID_FROM_PIDNS %s: %w", path, errors.ErrUnsupported)
	}
	return 0, fmt.Errorf("ioctl NS_GET_TGID_FROM_PIDNS %s: %w", path, e)
}

// scanFinder walks <procRoot>/*: the init of namespace ns is the process whose ns/pid link
// names ns and whose innermost NSpid is 1 (LXCFS forks into the namespace instead;
// this needs neither fork nor setns). It costs a readlink per process, so Reader caches its
// answers per namespace.
type scanFinder struct{ procRoot string }

func (f scanFinder) findInit(_ int, ns uint64) (int, error) {
	d, err := os.Open(f.procRoot)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", f.procRoot, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", f.procRoot, err)
	}
	buf := getBuf()
	defer putBuf(buf)
	for _, name := range names {
		p, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if ino, err := pidnsInode(f.procRoot, p); err != nil || ino != ns {
			continue // gone, a kernel thread, or another namespace
		}
		st, b, err := readStatus(f.procRoot, p, *buf)
		*buf = b
		if err == nil && len(st.nspid) > 1 && st.nspid[len(st.nspid)-1] == 1 {
			return p, nil
		}
	}
	return 0, fmt.Errorf("scan %s for pid namespace %d: %w", f.procRoot, ns, errNoInit)
}

// chainFinder tries each finder in turn and returns the first answer.
type chainFinder []initFinder

func (c chainFinder) findInit(pid int, ns uint64) (int, error) {
	var errs []error
	for _, f := range c {
		p, err := f.findInit(pid, ns)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
	}
	return 0, errors.Join(errs...)
}

// samePIDNamespace reports whether procRoot is a procfs of the daemon's own PID namespace:
// there <procRoot>/self names the daemon's PID. (In a fixture tree, or a procfs of another
// namespace, it does not.)
func samePIDNamespace(procRoot string) bool {
	s, err := os.Readlink(procRoot + "/self")
	return err == nil && s == strconv.Itoa(os.Getpid())
}
