package reattach

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// inScratchNamespace runs f on a thread in a private mount namespace of its own with a tmpfs at
// dir, so the test's mounts never reach the host. The thread is never unlocked (inNamespace's
// reasoning): the runtime ends it with the goroutine.
func inScratchNamespace(t *testing.T, f func(dir string) error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts in a mount namespace of its own")
	}
	dir := t.TempDir()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
			errc <- err
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- err
			return
		}
		if err := unix.Mount("scratch", dir, "tmpfs", 0, ""); err != nil {
			errc <- err
			return
		}
		errc <- f(dir)
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// kernelAtLeast reports whether the running kernel's release is major.minor or later.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("parse kernel release %q: %v", u.Release, err)
	}
	return ma > major || ma == major && mi >= minor
}

// TestReplaceWays: a "dead" bind mount over a file is replaced by a clone of another file,
// beneath it where asked and the kernel has MOVE_MOUNT_BENEATH (6.5), else the old way, and
// afterwards the path shows the clone, with one mount left there.
func TestReplaceWays(t *testing.T) {
	beneath := WayReplace
	if kernelAtLeast(t, 6, 5) {
		beneath = WayBeneath
	}
	for _, tt := range []struct {
		beneath bool
		want    string
	}{{true, beneath}, {false, WayReplace}} {
		t.Run(fmt.Sprintf("beneath=%v", tt.beneath), func(t *testing.T) {
			inScratchNamespace(t, func(dir string) error {
				under, dead, live := filepath.Join(dir, "meminfo"), filepath.Join(dir, "dead"), filepath.Join(dir, "live")
				for p, s := range map[string]string{under: "host\n", dead: "dead\n", live: "live\n"} {
					if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
						return err
					}
				}
				if err := unix.Mount(dead, under, "", unix.MS_BIND, ""); err != nil {
					return err
				}
				tree, err := unix.OpenTree(unix.AT_FDCWD, live, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
				if err != nil {
					return err
				}
				defer unix.Close(tree)
				way, err := replace(tree, under, tt.beneath)
				if err != nil {
					t.Errorf("replace: %v", err)
					return nil
				}
				if way != tt.want {
					t.Errorf("replace(beneath=%v) went %q, want %q", tt.beneath, way, tt.want)
				}
				if b, err := os.ReadFile(under); err != nil || string(b) != "live\n" {
					t.Errorf("after replace %s reads %q, %v; want the clone's \"live\"", under, b, err)
				}
				b, err := os.ReadFile("/proc/thread-self/mountinfo")
				if err != nil {
					return err
				}
				ms, err := parseMountinfo(b)
				if err != nil {
					return err
				}
				n := 0
				for _, m := range ms {
					if m.target == under {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d mounts at %s after replace, want 1 (the dead one detached)", n, under)
				}
				return nil
			})
		})
	}
}
