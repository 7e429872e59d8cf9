//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// target is the FUSE daemon under test: procfsd, or LXCFS for side-by-side comparisons.
type target struct {
	name   string // "procfsd" or "lxcfs"
	bin    string
	fstype string // as /proc/self/mountinfo prints it
}

// currentTarget is the daemon PROCFSD_E2E_TARGET names (procfsd by default).
func currentTarget(t testing.TB) target {
	t.Helper()
	return namedTarget(t, os.Getenv("PROCFSD_E2E_TARGET"))
}

// namedTarget is "procfsd" (PROCFSD_BIN) or "lxcfs" (LXCFS_BIN); "" means procfsd.
func namedTarget(t testing.TB, name string) target {
	t.Helper()
	switch name {
	case "", "procfsd":
		bin := os.Getenv("PROCFSD_BIN")
		if bin == "" {
			bin = "../bin/procfsd"
		}
		abs, err := filepath.Abs(bin)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("procfsd binary: %v (build it with `make build` or set PROCFSD_BIN)", err)
		}
		return target{name: "procfsd", bin: abs, fstype: "fuse.procfsd"}
	case "lxcfs":
		bin := os.Getenv("LXCFS_BIN")
		if bin == "" {
			bin = "/usr/bin/lxcfs"
		}
		return target{name: "lxcfs", bin: bin, fstype: "fuse.lxcfs"}
	default:
		t.Fatalf("daemon %q: want procfsd or lxcfs", name)
		return target{}
	}
}

// daemonOptions are the procfsd flags a test varies; LXCFS ignores those it has no equivalent for.
type daemonOptions struct {
	// target overrides PROCFSD_E2E_TARGET ("procfsd" or "lxcfs"), so that one test can run
	// both daemons side by side.
	target          string
	loadavgInterval time.Duration // default 1s
	cgroupRoot      string
	cpuView         string // "quota" (default) or "cpuset"
}

// daemon is one running FUSE daemon with its mount.
type daemon struct {
	target target
	mnt    string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, valid after done
}

// mountDirs makes a directory procfsd-e2e-<kind>… in the temporary directory, removed at
// cleanup, and a mountpoint mnt in it; TestMain reports a mount left behind under such a name.
func mountDirs(t *testing.T, kind string) (dir, mnt string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "procfsd-e2e-"+kind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	mnt = filepath.Join(dir, "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, mnt
}

// terminate sends cmd SIGTERM and waits for done (closed, or sent to, once cmd.Wait returns);
// past timeout it kills cmd, waits again and reports that it had to.
func terminate[T any](cmd *exec.Cmd, done <-chan T, timeout time.Duration) (killed bool) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return false
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		return true
	}
}

// startDaemon starts the daemon on a fresh temporary mountpoint, waits until the mount is in
// /proc/self/mountinfo, and registers a cleanup that stops it with SIGTERM and checks that it
// unmounted and exited 0.
func startDaemon(t *testing.T, o daemonOptions) *daemon {
	t.Helper()
	tg := currentTarget(t)
	if o.target != "" {
		tg = namedTarget(t, o.target)
	}
	dir, mnt := mountDirs(t, "")
	state := filepath.Join(dir, "state")
	if o.loadavgInterval == 0 {
		o.loadavgInterval = time.Second
	}
	if o.cpuView == "" {
		o.cpuView = "quota"
	}
	var args []string
	switch tg.name {
	case "procfsd":
		args = []string{"serve", "--mountpoint", mnt, "--state-dir", state,
			"--loadavg-interval", o.loadavgInterval.String(), "--cpu-view", o.cpuView,
			"--log-format", "json", "--log-level", "info"}
		if o.cgroupRoot != "" {
			args = append(args, "--cgroup-root", o.cgroupRoot)
		}
	case "lxcfs":
		// -f: foreground; -l: virtual loadavg; --enable-cfs: CPU view from the quota.
		args = []string{"-f", "-l", "-p", filepath.Join(dir, "lxcfs.pid"), mnt}
		if o.cpuView == "quota" {
			args = append([]string{"--enable-cfs"}, args...)
		}
	}
	d := &daemon{target: tg, mnt: mnt, stderr: &syncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(tg.bin, args...)
	d.cmd.Stdout = d.stderr
	d.cmd.Stderr = d.stderr
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", tg.name, err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.stop(t) })

	deadline := time.Now().Add(20 * time.Second)
	for !isMounted(t, mnt, tg.fstype) {
		select {
		case <-d.done:
			t.Fatalf("%s exited before mounting (%v); output:\n%s", tg.name, d.err, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s mount at %s after 20s; output:\n%s", tg.name, tg.fstype, mnt, d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%s %s mounted at %s (pid %d)", tg.name, strings.Join(args, " "), mnt, d.pid())
	return d
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// path returns the mount's path for a tree path such as "proc/meminfo".
func (d *daemon) path(rel string) string { return filepath.Join(d.mnt, rel) }

// alive fails the test if the daemon has exited.
func (d *daemon) alive(t testing.TB) {
	t.Helper()
	select {
	case <-d.done:
		t.Fatalf("%s exited (%v); output:\n%s", d.target.name, d.err, d.stderr)
	default:
	}
	if !isMounted(t, d.mnt, d.target.fstype) {
		t.Fatalf("%s mount at %s is gone", d.target.name, d.mnt)
	}
}

func (d *daemon) stop(t *testing.T) {
	t.Helper()
	select {
	case <-d.done:
		t.Errorf("%s had exited before the end of the test (%v); output:\n%s", d.target.name, d.err, d.stderr)
	default:
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
			if d.err != nil && d.target.name == "procfsd" {
				t.Errorf("%s: SIGTERM: exit status %v, want 0; output tail:\n%s", d.target.name, d.err, tail(d.stderr.String(), 20))
			}
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
			t.Errorf("%s did not exit within 10s of SIGTERM", d.target.name)
		}
	}
	if isMounted(t, d.mnt, d.target.fstype) {
		t.Errorf("%s left its mount at %s after exiting; detaching it", d.target.name, d.mnt)
		syscall.Unmount(d.mnt, syscall.MNT_DETACH)
	}
}

// isMounted reports whether /proc/self/mountinfo has a mount of fstype at mnt.
func isMounted(t testing.TB, mnt, fstype string) bool {
	t.Helper()
	for _, m := range mountinfo(t) {
		if m.point == mnt && m.fstype == fstype {
			return true
		}
	}
	return false
}

type mountEntry struct{ point, fstype string }

func mountinfo(t testing.TB) []mountEntry {
	t.Helper()
	m, err := readMountinfo()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readMountinfo() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []mountEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 1 {
			continue
		}
		out = append(out, mountEntry{point: unescapeMountinfo(f[4]), fstype: g[0]})
	}
	return out, sc.Err()
}

func unescapeMountinfo(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// logLines returns the daemon's output lines that are JSON objects.
func (d *daemon) logLines() []string {
	var out []string
	for _, l := range strings.Split(d.stderr.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "{") {
			out = append(out, l)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the exec package's copying goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// poll calls f until it returns nil or the deadline passes, then fails with f's last error.
func poll(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var errNotYet = errors.New("not yet")

func notYet(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errNotYet, fmt.Sprintf(format, args...))
}
