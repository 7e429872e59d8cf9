package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// hookFiles are the daemon's files the hook mounts, at the same path in the container
// (docs/behaviour.md §1.2). vmstat is here because runc refuses it as a spec mount; the hook runs
// before pivot_root, where runc's destination list does not apply. The pressure files are mounted
// only where both the daemon and the container's /proc have them.
var hookFiles = []struct {
	rel      string
	optional bool
}{
	{"proc/cpuinfo", false}, {"proc/meminfo", false}, {"proc/stat", false}, {"proc/vmstat", false},
	{"proc/loadavg", false}, {"proc/uptime", false}, {"proc/swaps", false}, {"proc/diskstats", false},
	{"proc/pressure/cpu", true}, {"proc/pressure/memory", true}, {"proc/pressure/io", true},
	{"sys/devices/system/cpu/online", false},
}

// ctlDir is where a container finds the two control files: its /proc/sys is read-only and,
// outside TencentOS, has no such sysctls to mount over. The hook mounts the daemon's
// proc/sys/kernel directory there when the container has a writable /run (podman's tmpfs).
const ctlDir = "run/procfsd"

// errOldKernel marks a kernel without the mount API the hook needs (Linux 5.2: open_tree,
// move_mount); the container then starts without procfsd's files unless --fail-closed.
var errOldKernel = errors.New("the kernel lacks open_tree and move_mount (Linux 5.2)")

// roAttrs are the flags of every file mount; the control directory stays writable.
const roAttrs = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV

// tree is a detached clone of one of the daemon's files (open_tree(2) OPEN_TREE_CLONE), to be
// moved onto its target. Once moved, fd still names that very mount, which is how it is made
// read-only (on kernels without mount_setattr) and unmounted again.
type tree struct {
	rel      string
	fd       int
	remount  bool // read-only still to be set, after the move (no mount_setattr before 5.12)
	writable bool // the control files' directory, mounted at ctlDir
	optional bool // left out where the container has no such file (hookFiles)
}

// clone makes the detached tree of the daemon's file src, read-only and nosuid/nodev unless
// writable; it is never attached anywhere writable.
func clone(src, rel string, writable bool) (*tree, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if errors.Is(err, unix.ENOSYS) {
		return nil, errOldKernel
	}
	if err != nil {
		return nil, fmt.Errorf("mount %s: source %s: %w", rel, src, err)
	}
	t := &tree{rel: rel, fd: fd, writable: writable}
	if writable {
		return t, nil
	}
	err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: roAttrs})
	switch {
	case errors.Is(err, unix.ENOSYS):
		t.remount = true
	case err != nil:
		unix.Close(fd)
		return nil, fmt.Errorf("mount %s: make clone of %s read-only: %w", rel, src, err)
	}
	return t, nil
}

// mountSet is what one hook run has mounted. The hook's deadline closes it from another
// goroutine: close unmounts everything placed so far, and nothing is placed after it.
type mountSet struct {
	mu     sync.Mutex
	closed bool
	placed []*tree
}

var errSetClosed = errors.New("the hook's deadline passed")

// place moves t onto the file or directory target, an O_PATH descriptor resolved inside the
// rootfs: the mount lands on that very inode whatever the path's names point at by now.
func (s *mountSet) place(t *tree, target int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errSetClosed
	}
	err := unix.MoveMount(t.fd, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("mount %s: %w", t.rel, err)
	}
	s.placed = append(s.placed, t)
	if t.remount {
		// The tree's descriptor is the root of the mount just attached, so the remount
		// reaches exactly that mount (fs/namespace.c do_reconfigure_mnt wants a mount root).
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
		if err := unix.Mount("", fdPath(t.fd), "", flags, ""); err != nil {
			return fmt.Errorf("remount %s read-only: %w", t.rel, err)
		}
	}
	return nil
}

// close unmounts, newest first, every tree placed, each through its own descriptor, and makes
// any later place fail.
func (s *mountSet) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for i := len(s.placed) - 1; i >= 0; i-- {
		unix.Unmount(fdPath(s.placed[i].fd), unix.MNT_DETACH)
	}
	s.placed = nil
}

func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// cloneSources clones every daemon file the hook mounts (the daemon's part of the work: each
// clone looks the file up over FUSE). A missing optional file is left out.
func cloneSources(mnt string) ([]*tree, error) {
	var trees []*tree
	fail := func(err error) ([]*tree, error) {
		closeTrees(trees)
		return nil, err
	}
	for _, f := range hookFiles {
		t, err := clone(filepath.Join(mnt, f.rel), f.rel, false)
		if f.optional && errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fail(err)
		}
		t.optional = f.optional
		trees = append(trees, t)
	}
	t, err := clone(filepath.Join(mnt, "proc/sys/kernel"), ctlDir, true)
	if err != nil {
		return fail(err)
	}
	return append(trees, t), nil
}

// closeTrees drops clones not placed: closing a detached tree's last descriptor unmounts it.
func closeTrees(trees []*tree) {
	for _, t := range trees {
		unix.Close(t.fd)
	}
}

// mountInto places the clones over the container's files under rootfs, read-only, in set. It
// runs in the container's mount namespace before pivot_root (runc: createContainer hooks run
// from prepareRootfs, after the spec mounts, so rootfs/proc is the container's new procfs).
// Every target is resolved inside the rootfs without following any symlink, to a descriptor
// the mount then goes on: a name swapped for a symlink meanwhile cannot redirect a mount onto
// the host. On failure the caller closes set, which leaves no partial set behind.
func mountInto(trees []*tree, rootfs string, set *mountSet) error {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs %s: %w", rootfs, err)
	}
	defer unix.Close(root)
	for i, t := range trees {
		var target int
		if t.writable {
			var ok bool
			if target, ok = ctlTarget(root); !ok {
				unix.Close(t.fd)
				continue
			}
		} else {
			target, err = resolveIn(root, t.rel, 0)
			if t.optional && errors.Is(err, unix.ENOENT) {
				unix.Close(t.fd)
				continue
			}
			if err != nil {
				closeTrees(trees[i:])
				return targetErr(t.rel, err)
			}
		}
		err := set.place(t, target)
		unix.Close(target)
		if err != nil {
			closeTrees(trees[i+1:])
			return err
		}
	}
	return nil
}

func targetErr(rel string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
		return fmt.Errorf("mount %s: target resolves to a symbolic link, or out of the rootfs: refused", rel)
	}
	return fmt.Errorf("mount %s: target: %w", rel, err)
}

// ctlTarget prepares <rootfs>/run/procfsd when the container has a real /run directory that
// takes a new directory (a tmpfs, or a writable rootfs), and returns it opened; otherwise the
// control files are not offered in the container.
func ctlTarget(root int) (int, bool) {
	run, err := resolveIn(root, "run", unix.O_DIRECTORY)
	if err != nil {
		return -1, false
	}
	defer unix.Close(run)
	name := filepath.Base(ctlDir)
	if err := unix.Mkdirat(run, name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, false
	}
	dst, err := resolveIn(run, name, unix.O_DIRECTORY)
	if err != nil {
		return -1, false
	}
	return dst, true
}

// resolveIn opens rel under the directory root with O_PATH, treating root as / and refusing
// every symlink on the way (openat2(2) RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS). Mount points are
// crossed: rootfs/proc is the container's procfs.
func resolveIn(root int, rel string, flags int) (int, error) {
	how := &unix.OpenHow{Flags: uint64(unix.O_PATH | unix.O_CLOEXEC | flags),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	for range 8 {
		fd, err := unix.Openat2(root, rel, how)
		switch {
		case errors.Is(err, unix.ENOSYS):
			return walkIn(root, rel, flags)
		case errors.Is(err, unix.EAGAIN):
			continue // a rename raced the lookup (openat2(2)); look again
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// walkIn is resolveIn for kernels without openat2 (before 5.6): one component at a time, each
// opened without following it and refused if it is a symlink. The hook's paths are fixed and
// have no "..", so this confines the lookup as RESOLVE_IN_ROOT does.
func walkIn(root int, rel string, flags int) (int, error) {
	parts := strings.Split(rel, "/")
	dir := root
	for i, name := range parts {
		if name == "" || name == "." || name == ".." {
			return -1, unix.EINVAL
		}
		last := i == len(parts)-1
		fl := unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if last {
			fl |= flags &^ unix.O_DIRECTORY
		}
		fd, err := unix.Openat(dir, name, fl, 0)
		if dir != root {
			unix.Close(dir)
		}
		if err != nil {
			return -1, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		switch {
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
			unix.Close(fd)
			return -1, unix.ELOOP
		case !isDir && (!last || flags&unix.O_DIRECTORY != 0):
			unix.Close(fd)
			return -1, unix.ENOTDIR
		}
		dir = fd
	}
	return dir, nil
}
