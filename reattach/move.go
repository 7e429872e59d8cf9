package reattach

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"

	"golang.org/x/sys/unix"
)

// clone makes a detached copy of the live mount's file that m showed, with m's per-mount
// flags (a read-only bind mount stays read-only).
func clone(mountpoint string, m mount) (int, error) {
	src := filepath.Join(mountpoint, m.root)
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("clone %s: %w", src, err)
	}
	if attr := mountAttrs(m.options); attr != 0 {
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: attr}); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("set flags of clone of %s: %w", src, err)
		}
	}
	return fd, nil
}

// mountAttrs maps mountinfo's per-mount options to mount_setattr(2) flags.
func mountAttrs(options []string) uint64 {
	var attr uint64
	for opt, bit := range map[string]uint64{"ro": unix.MOUNT_ATTR_RDONLY, "nosuid": unix.MOUNT_ATTR_NOSUID,
		"nodev": unix.MOUNT_ATTR_NODEV, "noexec": unix.MOUNT_ATTR_NOEXEC} {
		if slices.Contains(options, opt) {
			attr |= bit
		}
	}
	return attr
}

// inNamespace runs f on an OS thread that has joined the mount namespace nsFD, with its root
// and working directory at rootFD (the namespace's process's own root, so that mountinfo's
// paths resolve as they do for that process). The thread unshares its fs_struct first, which
// setns(CLONE_NEWNS) requires (EINVAL otherwise), and is never unlocked: the runtime ends it
// with the goroutine rather than reuse a thread in a container's namespace and root.
func inNamespace(nsFD, rootFD int, f func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare fs: %w", err)
			return
		}
		if err := unix.Setns(nsFD, unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("join mount namespace: %w", err)
			return
		}
		if err := unix.Fchdir(rootFD); err != nil {
			errc <- fmt.Errorf("enter root: %w", err)
			return
		}
		if err := unix.Chroot("."); err != nil {
			errc <- fmt.Errorf("enter root: %w", err)
			return
		}
		f()
		errc <- nil
	}()
	return <-errc
}

// moveMountBeneath is MOVE_MOUNT_BENEATH (include/uapi/linux/mount.h, Linux 6.5), which
// golang.org/x/sys does not define yet.
const moveMountBeneath = 0x200

// How replace put the live clone in place of a dead mount (Mount.Way).
const (
	// WayBeneath: the clone was mounted beneath the dead mount, which was then detached. The
	// path shows the dead file until the detach and the live one from then on.
	WayBeneath = "beneath"
	// WayReplace: the dead mount was detached, then the clone mounted. Between the two calls
	// the path shows what the dead mount covered: in a container, the host's /proc file.
	WayReplace = "replace"
	// WayOver: the dead mount is locked (it came with a user namespace's mount namespace) and
	// cannot be detached; the clone went on top of it.
	WayOver = "over"
)

// replace puts the detached mount tree where target's dead mount is, and says how. Called in
// the container's namespace.
//
// With beneath, it first tries move_mount(MOVE_MOUNT_BENEATH): the clone goes between the dead
// mount and what it covers, and detaching the dead mount then uncovers the clone, so no reader
// ever sees the file underneath (in a container, the host's /proc/meminfo). The kernel answers
// EINVAL both when it does not know the flag (before 6.5) and when the mount cannot have one
// beneath it (locked, its parent the namespace's root mount, or a propagation that would cover
// the clone again: fs/namespace.c, can_move_mount_beneath); either way the older sequence
// follows.
func replace(tree int, target string, beneath bool) (string, error) {
	if beneath {
		err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH|moveMountBeneath)
		switch {
		case err == nil:
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
				return "", fmt.Errorf("detach dead mount above the clone at %s: %w", target, err)
			}
			return WayBeneath, nil
		case !errors.Is(err, unix.EINVAL):
			return "", fmt.Errorf("move mount beneath %s: %w", target, err)
		}
	}
	way := WayReplace
	// EINVAL: a mount that a user namespace's mount namespace inherited is locked
	// (MNT_LOCKED) and cannot be unmounted even by host root; the new mount then goes on top
	// and hides it.
	if err := unix.Unmount(target, unix.MNT_DETACH); errors.Is(err, unix.EINVAL) {
		way = WayOver
	} else if err != nil {
		return "", fmt.Errorf("unmount %s: %w", target, err)
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return "", fmt.Errorf("move mount onto %s: %w", target, err)
	}
	return way, nil
}
