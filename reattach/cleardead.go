package reattach

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ClearDead detaches the dead procfsd mounts at mountpoint in the caller's own namespace and
// reports how many it removed. A daemon that died with nobody holding its descriptor leaves
// one behind; a fresh mount would otherwise be stacked on it. A mount that answers, or does
// not answer within timeout (alive but unserved), is left alone.
func ClearDead(mountpoint string, timeout time.Duration) (int, error) {
	mnt, err := filepath.Abs(mountpoint)
	if err != nil {
		return 0, fmt.Errorf("resolve mountpoint: %w", err)
	}
	for n := 0; ; n++ {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return n, fmt.Errorf("read own mountinfo: %w", err)
		}
		ms, err := parseMountinfo(b)
		if err != nil {
			return n, err
		}
		top := topmost(ms, FSType)
		if !hasTarget(top, mnt) {
			return n, nil
		}
		if _, err := probe(mnt, timeout); !dead(err) {
			return n, nil
		}
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			return n, fmt.Errorf("detach dead mount at %s: %w", mnt, err)
		}
	}
}

func hasTarget(ms []mount, target string) bool {
	for _, m := range ms {
		if m.target == target {
			return true
		}
	}
	return false
}

// Mounted reports whether the topmost mount at mountpoint, in the caller's namespace, is a
// procfsd mount.
func Mounted(mountpoint string) bool {
	mnt, err := filepath.Abs(mountpoint)
	if err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	ms, err := parseMountinfo(b)
	return err == nil && hasTarget(topmost(ms, FSType), mnt)
}

// CheckNotServed fails if the topmost mount at mountpoint, in the caller's namespace, is a
// procfsd mount that answers: another daemon serves it, and a mount stacked on it would go down
// with it (stopping either daemon detaches the mountpoint's mounts). Call it after ClearDead.
// A mount that does not answer within timeout (alive but unserved) is no one's to keep.
func CheckNotServed(mountpoint string, timeout time.Duration) error {
	mnt, err := filepath.Abs(mountpoint)
	if err != nil {
		return fmt.Errorf("resolve mountpoint: %w", err)
	}
	if !Mounted(mnt) {
		return nil
	}
	if _, err := probe(mnt, timeout); err != nil {
		return nil
	}
	return fmt.Errorf("%s already has a live %s mount served by another daemon; stop it first or choose another --mountpoint", mnt, FSType)
}
