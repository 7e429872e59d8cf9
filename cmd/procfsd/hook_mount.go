package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// hookFiles are the daemon's files the hook mounts, at the same path in the container
// (SPEC §1.2). vmstat is here because runc refuses it as a spec mount; the hook runs before
// pivot_root, where runc's destination list does not apply. The pressure files are mounted
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

// mountInto bind-mounts the daemon's files over the container's under rootfs, read-only. It
// runs in the container's mount namespace before pivot_root (runc: createContainer hooks run
// from prepareRootfs, after the spec mounts, so rootfs/proc is the container's new procfs). On
// any failure it unmounts what it mounted, leaving no partial set behind.
func mountInto(mnt, rootfs string) (err error) {
	realRoot, err := filepath.EvalSymlinks(rootfs)
	if err != nil {
		return fmt.Errorf("resolve rootfs %s: %w", rootfs, err)
	}
	var done []string
	defer func() {
		if err != nil {
			for i := len(done) - 1; i >= 0; i-- {
				unix.Unmount(done[i], unix.MNT_DETACH)
			}
		}
	}()
	for _, f := range hookFiles {
		src := filepath.Join(mnt, f.rel)
		dst := filepath.Join(realRoot, f.rel)
		if f.optional && (!exists(src) || !exists(dst)) {
			continue
		}
		if err := bindInside(src, dst, realRoot, true); err != nil {
			return err
		}
		done = append(done, dst)
	}
	if dst, ok := ctlTarget(realRoot); ok {
		if err := bindInside(filepath.Join(mnt, "proc/sys/kernel"), dst, realRoot, false); err != nil {
			return err
		}
		done = append(done, dst)
	}
	return nil
}

// ctlTarget prepares <rootfs>/run/procfsd when the container has a real /run directory that
// takes a new directory (a tmpfs, or a writable rootfs); otherwise the control files are not
// offered in the container.
func ctlTarget(root string) (string, bool) {
	run := filepath.Join(root, "run")
	if fi, err := os.Lstat(run); err != nil || !fi.IsDir() {
		return "", false
	}
	dst := filepath.Join(root, ctlDir)
	if err := os.Mkdir(dst, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", false
	}
	if fi, err := os.Lstat(dst); err != nil || !fi.IsDir() {
		return "", false
	}
	return dst, true
}

// bindInside bind-mounts src on dst after checking that dst, with every symlink resolved,
// is still the same path under root: a symlink in the container's tree must not redirect a
// mount onto the host.
func bindInside(src, dst, root string, readOnly bool) error {
	real, err := filepath.EvalSymlinks(dst)
	if err != nil {
		return fmt.Errorf("mount %s: target: %w", dst, err)
	}
	if real != dst {
		return fmt.Errorf("mount %s: target resolves to %s, outside the expected path under %s", dst, real, root)
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("mount %s: source: %w", dst, err)
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mount %s on %s: %w", src, dst, err)
	}
	if readOnly {
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
		if err := unix.Mount("", dst, "", flags, ""); err != nil {
			unix.Unmount(dst, unix.MNT_DETACH)
			return fmt.Errorf("remount %s read-only: %w", dst, err)
		}
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
