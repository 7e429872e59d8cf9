package switches

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"procfsd/cgroupview"
)

// Errors of a switch change (docs/behaviour.md §3, §4); the FUSE edge maps them to errno.
var (
	ErrBadValue   = errors.New("control value must be 0 or 1")
	ErrPermission = errors.New("caller may not change this switch")
)

// ParseSwitch accepts "0" or "1" with an optional trailing newline, as sysctl(8) writes them.
func ParseSwitch(data []byte) (bool, error) {
	v := bytes.TrimSuffix(data, []byte("\n"))
	switch string(v) {
	case "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, fmt.Errorf("%w: got %q", ErrBadValue, data)
}

// Which names one of the two switches (docs/behaviour.md §3).
type Which int

const (
	Host      Which = iota + 1 // stats_isolated
	Container                  // container_stats_isolated
)

// Authorize returns the container of the caller (pid and uid from the FUSE request) if it may
// change switch w, else an ErrPermission.
func (b *Board) Authorize(w Which, pid int, uid uint32) (*cgroupview.Container, error) {
	c, err := b.cgroups.Resolve(pid)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPermission, err)
	}
	self, err := selfUserNS()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPermission, err)
	}
	if err := authorizeWrite(b.cfg.ProcRoot, self, w, pid, uid, c); err != nil {
		b.log.Debug("switch write refused", zap.Int("pid", pid), zap.Uint32("uid", uid), zap.Error(err))
		return nil, err
	}
	return c, nil
}

// selfUserNS is procfsd's own user namespace, which a process never leaves once it runs
// threads (setns(2) refuses CLONE_NEWUSER to a multithreaded process): looked up once, not at
// each open and write of a control file.
var selfUserNS = sync.OnceValues(func() (nsID, error) { return userNS("/proc/self/ns/user") })

// nsID names a namespace: the device and inode of a /proc/<pid>/ns/ file (namespaces(7)).
type nsID struct{ dev, ino uint64 }

// userNS returns the user namespace a /proc/<pid>/ns/user file names.
func userNS(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}

// authorizeWrite decides whether the writer (pid and uid from the FUSE request, c its container)
// may change switch w; self is procfsd's own user namespace. The rule (docs/behaviour.md §3):
//   - stats_isolated: the host's root only, i.e. uid 0 in procfsd's user namespace (the host's)
//     and in the host PID namespace;
//   - container_stats_isolated, which only ever changes the writer's own container (never a root
//     cgroup): the host's root, or uid 0 of the user namespace of the container's init, the writer
//     being in that very namespace.
//
// The uid is the writer's fsuid as the kernel maps it into the FUSE connection's user namespace,
// the mounter's, i.e. procfsd's (fs/fuse/dev.c, fuse_get_req). So root of a user namespace the
// writer made itself (unshare -Ur) arrives as the writer's uid outside it, and that namespace is
// neither procfsd's nor the init's: the writer's own uid_map, which anyone can write, never counts.
func authorizeWrite(procRoot string, self nsID, w Which, pid int, uid uint32, c *cgroupview.Container) error {
	writer, err := userNS(filepath.Join(procRoot, strconv.Itoa(pid), "ns", "user"))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	hostRoot := uid == 0 && writer == self
	switch w {
	case Host:
		if !hostRoot || c.InitPID != 0 {
			return fmt.Errorf("%w: host switch needs the host's root", ErrPermission)
		}
		return nil
	case Container:
		switch {
		case c.Root:
			return fmt.Errorf("%w: the root cgroup has no container switch", ErrPermission)
		case hostRoot:
			return nil
		case c.InitPID == 0:
			// A writer in the host PID namespace has no container init: only the host's root
			// may set its cgroup's switch.
			return fmt.Errorf("%w: container switch needs the host's root here", ErrPermission)
		}
		if err := initRoot(procRoot, writer, uid, c); err != nil {
			return fmt.Errorf("%w: container switch needs the container's root: %w", ErrPermission, err)
		}
		return nil
	}
	return fmt.Errorf("%w: not a switch", ErrPermission)
}

// initRoot returns nil when a writer in user namespace writer with uid is root of the user
// namespace of c's init: the same namespace, in which uid maps to 0. The init's uid_map, read
// from procfsd's user namespace, gives its outside IDs in procfsd's terms (user_namespaces(7)).
func initRoot(procRoot string, writer nsID, uid uint32, c *cgroupview.Container) error {
	dir := filepath.Join(procRoot, strconv.Itoa(c.InitPID))
	init, err := userNS(filepath.Join(dir, "ns", "user"))
	if err != nil {
		return err
	}
	if writer != init {
		return errors.New("writer is not in the user namespace of its container's init")
	}
	inside, ok, err := mapUID(filepath.Join(dir, "uid_map"), uid)
	if err != nil {
		return err
	}
	// What was read belongs to the init only if the init is still the process resolved.
	if start, err := cgroupview.ProcessStart(procRoot, c.InitPID); err != nil || start != c.InitStart {
		return fmt.Errorf("container init %d gone", c.InitPID)
	}
	if !ok || inside != 0 {
		return fmt.Errorf("uid %d is not uid 0 of the container's user namespace", uid)
	}
	return nil
}

// mapUID maps uid through a uid_map file (lines "inside outside count").
func mapUID(path string, uid uint32) (uint64, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, fmt.Errorf("read uid_map: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var inside, outside, count uint64
		if _, err := fmt.Sscan(sc.Text(), &inside, &outside, &count); err != nil {
			continue
		}
		if uint64(uid) >= outside && uint64(uid)-outside < count {
			return inside + (uint64(uid) - outside), true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, false, fmt.Errorf("read uid_map: %w", err)
	}
	return 0, false, nil
}
