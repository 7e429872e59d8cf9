//go:build e2e

package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// virtualFiles are the files of docs/behaviour.md §1.2 that every caller reads (the pressure files
// are there only where the host has PSI). For LXCFS, which has no vmstat before 6.0, only those it
// serves.
func (d *daemon) virtualFiles() []string {
	var out []string
	for _, f := range procFiles {
		out = append(out, "proc/"+f)
	}
	if d.hasPressure() {
		out = append(out, "proc/pressure/cpu", "proc/pressure/memory", "proc/pressure/io")
	}
	out = append(out, onlineFile)
	if d.target.name == "lxcfs" {
		out = slices.DeleteFunc(out, func(rel string) bool {
			_, err := os.Stat(d.path(rel))
			return err != nil
		})
	}
	return out
}

var controlFiles = []string{"proc/sys/kernel/stats_isolated", "proc/sys/kernel/container_stats_isolated"}

// hasPressure: procfsd serves proc/pressure where the host has PSI (docs/behaviour.md §1.2); LXCFS
// 5 never.
func (d *daemon) hasPressure() bool {
	if d.target.name == "lxcfs" {
		return false
	}
	_, err := os.Stat("/proc/pressure/cpu")
	return err == nil
}

// TestListing checks that every directory lists exactly the docs/behaviour.md §1.2 entries, that
// unknown names are ENOENT, and the files' attributes.
func TestListing(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	proc := []string{"cpuinfo", "diskstats", "loadavg", "meminfo", "stat", "swaps", "sys", "uptime", "vmstat"}
	if d.hasPressure() {
		proc = append(proc, "pressure")
	}
	want := map[string][]string{
		"":                       {"proc", "sys"},
		"proc":                   proc,
		"proc/sys":               {"kernel"},
		"proc/sys/kernel":        {"container_stats_isolated", "stats_isolated"},
		"sys":                    {"devices"},
		"sys/devices":            {"system"},
		"sys/devices/system":     {"cpu"},
		"sys/devices/system/cpu": {"online"},
	}
	if d.hasPressure() {
		want["proc/pressure"] = []string{"cpu", "io", "memory"}
	}
	for dir, names := range want {
		ents, err := os.ReadDir(d.path(dir))
		if err != nil {
			t.Errorf("readdir %q: %v", dir, err)
			continue
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		slices.Sort(names)
		if !slices.Equal(got, names) {
			t.Errorf("readdir %q = %v, want %v", dir, got, names)
		}
	}

	for _, p := range []string{"nosuch", "proc/nosuch", "proc/self", "proc/1", "proc/sys/kernel/nosuch",
		"sys/devices/system/cpu/cpu0", "sys/devices/system/cpu/offline", "proc/meminfo/x"} {
		_, err := os.Lstat(d.path(p))
		if !errors.Is(err, syscall.ENOENT) && !(p == "proc/meminfo/x" && errors.Is(err, syscall.ENOTDIR)) {
			t.Errorf("lstat %q: %v, want ENOENT", p, err)
		}
	}

	for _, f := range d.virtualFiles() {
		checkAttr(t, d, f, 0o444)
	}
	for _, f := range controlFiles {
		checkAttr(t, d, f, 0o644)
	}
}

func checkAttr(t *testing.T, d *daemon, rel string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(d.path(rel))
	if err != nil {
		t.Errorf("lstat %s: %v", rel, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != mode || st.Uid != 0 || st.Gid != 0 || fi.Size() != 0 {
		t.Errorf("%s: mode %v uid %d gid %d size %d; want regular %v, root:root, size 0",
			rel, fi.Mode(), st.Uid, st.Gid, fi.Size(), mode)
	}
}

// TestReadOnly tries every kind of change on the tree as host root: each must fail with EACCES,
// EROFS or EPERM and change nothing, neither in the tree nor on the host.
func TestReadOnly(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	hostOnline := readFile(t, "/sys/devices/system/cpu/online")
	// The changes docs/behaviour.md §1.2 names must fail with EACCES, EROFS or EPERM ...
	denied := func(t *testing.T, what string, err error) {
		t.Helper()
		if !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EPERM) {
			t.Errorf("%s: %v, want EACCES, EROFS or EPERM", what, err)
		}
	}
	// ... and the others it does not name must fail somehow.
	fails := func(t *testing.T, what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s succeeded", what)
		}
	}
	for _, rel := range d.virtualFiles() {
		p := d.path(rel)
		t.Run(rel, func(t *testing.T) {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err == nil {
				_, err = f.Write([]byte("1\n"))
				f.Close()
			}
			denied(t, "write", err)
			f, err = os.OpenFile(p, os.O_RDWR, 0)
			if err == nil {
				f.Close()
			}
			denied(t, "open O_RDWR", err)
			denied(t, "open O_TRUNC", openClose(p, os.O_WRONLY|os.O_TRUNC))
			denied(t, "truncate", os.Truncate(p, 0))
			denied(t, "chmod", os.Chmod(p, 0o666))
			fails(t, "chown", os.Chown(p, 1, 1))
			denied(t, "rename", os.Rename(p, p+".new"))
			denied(t, "unlink", unix.Unlink(p))
			fails(t, "link", os.Link(p, filepath.Join(filepath.Dir(p), "hardlink")))
			denied(t, "setxattr", unix.Setxattr(p, "user.procfsd", []byte("x"), 0))
			fails(t, "removexattr", unix.Removexattr(p, "user.procfsd"))
			fails(t, "utimes", unix.UtimesNano(p, []unix.Timespec{{Sec: 1}, {Sec: 1}}))
			checkAttr(t, d, rel, 0o444)
			b, err := os.ReadFile(p)
			if err != nil || len(b) == 0 || strings.HasPrefix(string(b), "1\n") {
				t.Errorf("read after the attempts: %q, %v", b, err)
			}
		})
	}
	for _, dir := range []string{"", "proc", "proc/sys/kernel", "sys/devices/system/cpu"} {
		p := d.path(dir)
		t.Run("dir "+dir, func(t *testing.T) {
			denied(t, "create", openClose(filepath.Join(p, "newfile"), os.O_CREATE|os.O_WRONLY))
			denied(t, "mkdir", os.Mkdir(filepath.Join(p, "newdir"), 0o755))
			denied(t, "symlink", os.Symlink("/etc/passwd", filepath.Join(p, "newlink")))
			fails(t, "mknod", unix.Mknod(filepath.Join(p, "newfifo"), unix.S_IFIFO|0o644, 0))
			if dir != "" {
				fails(t, "rmdir", unix.Rmdir(p))
				denied(t, "rename dir", os.Rename(p, p+".new"))
				denied(t, "chmod dir", os.Chmod(p, 0o777))
			}
			for _, n := range []string{"newfile", "newdir", "newlink", "newfifo"} {
				if _, err := os.Lstat(filepath.Join(p, n)); !errors.Is(err, syscall.ENOENT) {
					t.Errorf("%s/%s exists after a denied create (%v)", dir, n, err)
				}
			}
		})
	}
	if got := readFile(t, "/sys/devices/system/cpu/online"); string(got) != string(hostOnline) {
		t.Errorf("host /sys/devices/system/cpu/online changed: %q, was %q", got, hostOnline)
	}
	d.alive(t)
}

func openClose(p string, flag int) error {
	f, err := os.OpenFile(p, flag, 0o644)
	if err == nil {
		f.Close()
	}
	return err
}
