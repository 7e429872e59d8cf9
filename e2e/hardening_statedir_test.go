//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// refusedServe runs `procfsd serve` on mnt and state with extra flags, which must refuse to
// start: it must exit non-zero with a one-line error, without mounting. A serve that mounts
// instead fails the test and is stopped, its mount detached. It returns the error line.
func refusedServe(t *testing.T, mnt, state string, extra ...string) string {
	t.Helper()
	args := append([]string{"serve", "--mountpoint", mnt, "--state-dir", state, "--log-format", "json"}, extra...)
	cmd := exec.Command(namedTarget(t, "procfsd").bin, args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	before := len(procfsdMounts(t, mnt))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("procfsd %v exited 0, want a refusal; output:\n%s", args, out.String())
			}
			line := strings.TrimSpace(out.String())
			if line == "" || strings.Contains(line, "\n") {
				t.Errorf("procfsd %v: output %q, want one line", args, line)
			}
			if n := len(procfsdMounts(t, mnt)); n != before {
				t.Errorf("procfsd mounts at %s: %d after a refused serve, want %d", mnt, n, before)
			}
			return line
		case <-deadline:
			cmd.Process.Kill()
			<-done
			t.Fatalf("procfsd %v still running after 20s, want a refusal; output:\n%s", args, tail(out.String(), 10))
		case <-time.After(50 * time.Millisecond):
		}
		if n := len(procfsdMounts(t, mnt)); n > before {
			// Accepted: stop it and take its mount down, then fail.
			terminate(cmd, done, 10*time.Second)
			for len(procfsdMounts(t, mnt)) > before {
				if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
					break
				}
			}
			t.Fatalf("procfsd %v started serving (%d mounts at %s), want a refusal; output:\n%s", args, n, mnt, tail(out.String(), 10))
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestStateDirUnsafeRefused: a state directory another user could write to, or whose parent
// they could, lets them plant links that root follows; serve refuses it with one line and
// touches nothing in it. A sticky parent such as /tmp is fine.
func TestStateDirUnsafeRefused(t *testing.T) {
	cases := []struct {
		name             string
		parentMode, mode os.FileMode
		parentUID, uid   int
		want             string
	}{
		{name: "owned by uid 1000", parentMode: 0o755, mode: 0o700, uid: 1000, want: "owned by uid 1000"},
		{name: "writable by others", parentMode: 0o755, mode: 0o777, want: "writable by group or others"},
		{name: "writable by group", parentMode: 0o755, mode: 0o770, want: "writable by group or others"},
		{name: "parent writable by others", parentMode: 0o777, mode: 0o700, want: "parent is writable"},
		{name: "parent owned by uid 1000", parentMode: 0o755, mode: 0o700, parentUID: 1000, want: "parent is owned by uid 1000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, mnt := mountDirs(t, "sd-")
			parent := filepath.Join(dir, "parent")
			state := filepath.Join(parent, "state")
			if err := os.MkdirAll(state, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, p := range []struct {
				path string
				mode os.FileMode
				uid  int
			}{{state, c.mode, c.uid}, {parent, c.parentMode, c.parentUID}} {
				if err := os.Chmod(p.path, p.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(p.path, p.uid, p.uid); err != nil {
					t.Fatal(err)
				}
			}
			line := refusedServe(t, mnt, state)
			if !strings.Contains(line, c.want) || !strings.Contains(line, state) {
				t.Errorf("refusal %q, want it to name %s and say %q", line, state, c.want)
			}
			if names := listDir(t, state); len(names) > 0 {
				t.Errorf("refused state dir now holds %q, want nothing", names)
			}
			var st unix.Stat_t
			if err := unix.Stat(state, &st); err != nil || os.FileMode(st.Mode&0o777) != c.mode || int(st.Uid) != c.uid {
				t.Errorf("refused state dir: mode %#o uid %d (%v), want %#o uid %d untouched", st.Mode&0o777, st.Uid, err, c.mode, c.uid)
			}
		})
	}

	t.Run("sticky parent", func(t *testing.T) {
		dir, mnt := mountDirs(t, "sd-")
		parent := filepath.Join(dir, "tmp")
		if err := os.Mkdir(parent, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(parent, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		d := startCtlDaemon(t, mnt, filepath.Join(parent, "state"))
		if got := strings.TrimSpace(d.mustCtl(t, "ctl", "get")); got != "1" {
			t.Errorf("ctl get: %q, want 1", got)
		}
	})
}

// TestStateDirLinksNotFollowed: links planted in the state directory (symlinks, and a hard
// link to a file elsewhere) must never make the daemon write, resize or truncate their
// targets; it replaces them with files of its own.
func TestStateDirLinksNotFollowed(t *testing.T) {
	dir, mnt := mountDirs(t, "sd-")
	state := filepath.Join(dir, "state")
	victims := filepath.Join(dir, "victims")
	for _, d := range []string{state, victims} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	symlinked := []string{"journal", "history.json", "history.json.tmp", "serve.pid", "serve.pid.tmp",
		"ready", "ready.tmp", "switches.json.tmp"}
	hardlinked := []string{"clocks2"}
	content := map[string]string{}
	for _, name := range append(symlinked, hardlinked...) {
		v := filepath.Join(victims, name)
		content[v] = fmt.Sprintf("root's own file, not %s\n", name)
		if err := os.WriteFile(v, []byte(content[v]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range symlinked {
		if err := os.Symlink(filepath.Join(victims, name), filepath.Join(state, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range hardlinked {
		if err := os.Link(filepath.Join(victims, name), filepath.Join(state, name)); err != nil {
			t.Fatal(err)
		}
	}

	d := startCtlDaemon(t, mnt, state)
	poll(t, 10*time.Second, "ready recorded", func() error {
		b, err := os.ReadFile(filepath.Join(state, "ready"))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(string(b), strconv.Itoa(d.pid())+" ") {
			return notYet("ready %q", b)
		}
		return nil
	})
	if _, err := os.ReadFile(d.path("proc/stat")); err != nil { // writes the clock journal
		t.Fatal(err)
	}
	d.mustCtl(t, "ctl", "set", "host", "0") // writes switches.json
	d.shutdown(t)                           // saves the history

	for v, want := range content {
		if b, err := os.ReadFile(v); err != nil || string(b) != want {
			t.Errorf("%s: %q (%v) after the daemon ran, want it untouched: %q", v, b, err, want)
		}
	}
	for _, name := range []string{"journal", "clocks2", "history.json", "switches.json"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(state, name), &st); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
			t.Errorf("%s in the state dir: mode %#o, %d links; want the daemon's own regular file", name, st.Mode, st.Nlink)
		}
	}
}

// TestStateDirOneDaemon: a second serve on a state directory in use would take over its socket,
// pidfile and readiness line, and one on a mountpoint another daemon serves would stack on its
// mount (stopping either brings both down); both are refused, and the first daemon serves on.
// The lock stays with the daemon across a live handover.
func TestStateDirOneDaemon(t *testing.T) {
	dir, mnt := mountDirs(t, "sd-")
	state := filepath.Join(dir, "state")
	d := startCtlDaemon(t, mnt, state)
	readyBefore := readFile(t, filepath.Join(state, "ready"))

	t.Run("same state dir", func(t *testing.T) {
		mnt2 := filepath.Join(dir, "mnt2")
		if err := os.Mkdir(mnt2, 0o755); err != nil {
			t.Fatal(err)
		}
		line := refusedServe(t, mnt2, state)
		if !strings.Contains(line, "in use by another procfsd") || !strings.Contains(line, strconv.Itoa(d.pid())) {
			t.Errorf("refusal %q, want it to say the state dir is in use by pid %d", line, d.pid())
		}
		d.mustCtl(t, "ctl", "set", "host", "0")
		if got := strings.TrimSpace(d.mustCtl(t, "ctl", "get")); got != "0" {
			t.Errorf("ctl get after set host 0: %q", got)
		}
		if got := strings.TrimSpace(string(readFile(t, filepath.Join(state, "serve.pid")))); got != strconv.Itoa(d.pid()) {
			t.Errorf("serve.pid %q, want the first daemon's %d", got, d.pid())
		}
		if got := readFile(t, filepath.Join(state, "ready")); !bytes.Equal(got, readyBefore) {
			t.Errorf("ready %q, want the first daemon's %q", got, readyBefore)
		}
	})

	t.Run("same mountpoint", func(t *testing.T) {
		line := refusedServe(t, mnt, filepath.Join(dir, "state2"))
		if !strings.Contains(line, "served by another daemon") {
			t.Errorf("refusal %q, want it to say the mountpoint is served by another daemon", line)
		}
		if got := procfsdMounts(t, mnt); len(got) != 1 {
			t.Errorf("procfsd mounts at %s: %q, want one", mnt, got)
		}
		if b, err := os.ReadFile(d.path("proc/meminfo")); err != nil || !strings.HasPrefix(string(b), "MemTotal:") {
			t.Errorf("first daemon's meminfo: %q, %v", firstLineOf(b), err)
		}
	})

	t.Run("after handover", func(t *testing.T) {
		out, errOut, code := d.ctl(t, "upgrade", "--timeout", "15s")
		if code != 0 {
			t.Fatalf("procfsd upgrade: exit %d: %s%s", code, out, errOut)
		}
		line := refusedServe(t, filepath.Join(dir, "mnt2"), state)
		if !strings.Contains(line, "in use by another procfsd") {
			t.Errorf("refusal after a handover %q, want the state dir still in use", line)
		}
	})
}

// TestStateDirSupervisedLock: under --supervise the supervisor and each server it starts
// hold the state dir's lock together; a restarted server keeps it.
func TestStateDirSupervisedLock(t *testing.T) {
	dir, mnt := mountDirs(t, "sd-")
	state := filepath.Join(dir, "state")
	d := startCtlDaemon(t, mnt, state, "--supervise")
	// server waits until the ready line names a live server other than not and returns it.
	server := func(not int) int {
		var pid int
		poll(t, 15*time.Second, "a server ready", func() error {
			f := strings.Fields(string(readFile(t, filepath.Join(state, "ready"))))
			if len(f) == 0 {
				return notYet("no ready line")
			}
			pid, _ = strconv.Atoi(f[0])
			if pid == d.pid() || pid == not || syscall.Kill(pid, 0) != nil {
				return notYet("ready names pid %d", pid)
			}
			return nil
		})
		return pid
	}
	first := server(0)
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	server(first)
	mnt2 := filepath.Join(dir, "mnt2")
	os.Mkdir(mnt2, 0o755)
	if line := refusedServe(t, mnt2, state); !strings.Contains(line, "in use by another procfsd") {
		t.Errorf("refusal %q, want the state dir in use", line)
	}
	if got := strings.TrimSpace(d.mustCtl(t, "ctl", "get")); got != "1" {
		t.Errorf("ctl get: %q, want 1", got)
	}
}

// TestStateDirPidFileRemovedOnStop: a pidfile left after a clean stop names a pid the kernel
// may give to anything later.
func TestStateDirPidFileRemovedOnStop(t *testing.T) {
	for _, extra := range [][]string{nil, {"--supervise"}} {
		t.Run(fmt.Sprintf("serve %s", strings.Join(extra, " ")), func(t *testing.T) {
			dir, mnt := mountDirs(t, "sd-")
			state := filepath.Join(dir, "state")
			d := startCtlDaemon(t, mnt, state, extra...)
			pidfile := filepath.Join(state, "serve.pid")
			if got := strings.TrimSpace(string(readFile(t, pidfile))); got != strconv.Itoa(d.pid()) {
				t.Fatalf("serve.pid %q while serving, want %d", got, d.pid())
			}
			d.shutdown(t)
			if _, err := os.Lstat(pidfile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("serve.pid after a clean stop: %v, want it removed", err)
			}
		})
	}
}

// TestStateDirUpgradeStalePid: `procfsd upgrade` signals the pid in serve.pid only if that
// process serves the state directory; SIGHUP kills an unrelated process that reused the pid.
func TestStateDirUpgradeStalePid(t *testing.T) {
	// sleeper starts an unrelated process; done is closed when it has exited.
	sleeper := func(t *testing.T) (c *exec.Cmd, done chan struct{}) {
		c = exec.Command("sleep", "600")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		done = make(chan struct{})
		go func() { c.Wait(); close(done) }()
		t.Cleanup(func() { c.Process.Kill(); <-done })
		return c, done
	}
	survives := func(t *testing.T, c *exec.Cmd, done chan struct{}) {
		select {
		case <-done:
			t.Errorf("the unrelated process died: %v", c.ProcessState)
		default:
		}
	}

	t.Run("no daemon", func(t *testing.T) {
		dir, _ := mountDirs(t, "sd-")
		state := filepath.Join(dir, "state")
		if err := os.Mkdir(state, 0o700); err != nil {
			t.Fatal(err)
		}
		c, done := sleeper(t)
		if err := os.WriteFile(filepath.Join(state, "serve.pid"), []byte(fmt.Sprintf("%d\n", c.Process.Pid)), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := runProcfsd(t, "upgrade", "--state-dir", state, "--timeout", "2s")
		if code == 0 {
			t.Errorf("upgrade with a stale pidfile exited 0, want a refusal")
		}
		if !strings.Contains(errOut, "no running daemon") {
			t.Errorf("upgrade: %q, want it to say no daemon runs", errOut)
		}
		survives(t, c, done)
	})

	t.Run("pidfile names another process", func(t *testing.T) {
		dir, mnt := mountDirs(t, "sd-")
		state := filepath.Join(dir, "state")
		d := startCtlDaemon(t, mnt, state)
		c, done := sleeper(t)
		if err := os.WriteFile(filepath.Join(state, "serve.pid"), []byte(fmt.Sprintf("%d\n", c.Process.Pid)), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := d.ctl(t, "upgrade", "--timeout", "2s")
		if code == 0 {
			t.Errorf("upgrade with serve.pid naming pid %d exited 0, want a refusal", c.Process.Pid)
		}
		if !strings.Contains(errOut, "does not hold the lock") {
			t.Errorf("upgrade: %q, want it to say pid %d does not hold the state dir's lock", errOut, c.Process.Pid)
		}
		survives(t, c, done)
		d.alive(t)
	})
}

// TestStateDirCrashWhileProbing: the daemon asks its own mount whether it answers (here the
// watchdog's probe every 50ms). Asked from the serving process, a crash of that process while
// its own request was being answered left a thread waiting forever for the answer, so the
// process never exited and every reader of the mount hung. Here the crash is a fault in the
// request journal, truncated by root through its own path (the one change a mapped state file
// still allows): the next request, the probe's, faults a request loop. The process must exit
// and the mount must fail (ENOTCONN), not hang.
func TestStateDirCrashWhileProbing(t *testing.T) {
	mnt, state := restartDirs(t)
	peer := newNotifyPeer(t)
	d := startRestartable(t, mnt, state, []string{"NOTIFY_SOCKET=" + peer.addr, "WATCHDOG_USEC=100000"}, nil)
	// Registered after startRestartable's cleanup, so it runs first: a process stuck in its own
	// mount can only be freed by aborting the connection.
	t.Cleanup(func() {
		if t.Failed() {
			abortConnection(t, mnt)
		}
	})
	d.waitMounted(t)
	// The test plays systemd but keeps no descriptor: the connection must end with the process.
	for _, name := range []string{"fuse-init", "fuse"} {
		for _, f := range peer.wait(t, "FDSTORE "+name, 10*time.Second, isState("FDSTORE=1\nFDNAME="+name)).fds {
			f.Close()
		}
	}
	peer.wait(t, "WATCHDOG=1", 5*time.Second, isState("WATCHDOG=1"))
	if err := os.Truncate(filepath.Join(state, "journal"), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("procfsd did not exit within 20s of the journal's truncation; a thread waits on its own mount:\n%s", stuckThreads(d.cmd.Process.Pid))
	}
	if !strings.Contains(d.out.String(), "unexpected fault address") {
		t.Errorf("procfsd exited (%v) without the fault; output tail:\n%s", d.err, tail(d.out.String(), 10))
	}
	statErr := make(chan error, 1)
	go func() {
		var st unix.Statx_t
		statErr <- unix.Statx(unix.AT_FDCWD, mnt, unix.AT_STATX_FORCE_SYNC, unix.STATX_INO, &st)
	}()
	select {
	case err := <-statErr:
		if !errors.Is(err, unix.ENOTCONN) && !errors.Is(err, unix.ECONNABORTED) {
			t.Errorf("stat of the mount after the crash: %v, want ENOTCONN", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("stat of the mount still hangs 10s after procfsd exited")
	}
}

// stuckThreads lists the kernel functions pid's threads wait in.
func stuckThreads(pid int) string {
	var out []string
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, task := range tasks {
		w, _ := os.ReadFile(filepath.Join(task, "wchan"))
		out = append(out, filepath.Base(task)+": "+string(w))
	}
	return strings.Join(out, "\n")
}

// abortConnection aborts the FUSE connection of every procfsd mount at mnt through the fuse
// control file system (Documentation/filesystems/fuse.rst, "Aborting a filesystem
// connection"), mounted in a private mount namespace so that the host's is left as it is.
func abortConnection(t *testing.T, mnt string) {
	for _, m := range procfsdMounts(t, mnt) {
		dev := strings.Fields(m)[1]
		_, minor, _ := strings.Cut(dev, ":")
		script := fmt.Sprintf("mount -t fusectl none /sys/fs/fuse/connections && echo 1 > /sys/fs/fuse/connections/%s/abort", minor)
		if out, err := exec.Command("unshare", "-m", "sh", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("abort connection %s of %s: %v: %s", dev, mnt, err, out)
		}
	}
}

// TestStateDirUnsafeInheritedMount: a process that inherits a mount (a handover from a version
// that did not check the state dir) must not take the mount down over an unsafe state dir: it
// serves without it, touching nothing in it. The test mounts the connection itself and passes
// the descriptor as a predecessor would.
func TestStateDirUnsafeInheritedMount(t *testing.T) {
	dir, mnt := mountDirs(t, "sd-")
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	fuse, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fuse.Close()
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,max_read=131072", fuse.Fd())
	if err := unix.Mount("procfsd", mnt, "fuse.procfsd", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for len(procfsdMounts(t, mnt)) > 0 && unix.Unmount(mnt, unix.MNT_DETACH) == nil {
		}
	})
	cmd := exec.Command(namedTarget(t, "procfsd").bin, "serve", "--mountpoint", mnt, "--state-dir", state, "--log-format", "json")
	cmd.Env = append(os.Environ(), "PROCFSD_FUSE_FD=3")
	cmd.ExtraFiles = []*os.File{fuse}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		terminate(cmd, done, 10*time.Second)
	})
	fuse.Close() // the daemon holds the connection now, as after a handover
	poll(t, 20*time.Second, "the inherited mount served", func() error {
		select {
		case <-done:
			t.Fatalf("procfsd exited (%v); the inherited mount is lost; output:\n%s", cmd.ProcessState, out.String())
		default:
		}
		b, err := os.ReadFile(filepath.Join(mnt, "proc/meminfo"))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(string(b), "MemTotal:") {
			return notYet("meminfo %q", firstLineOf(b))
		}
		return nil
	})
	if !strings.Contains(out.String(), "state dir refused") {
		t.Errorf("no error logged about the refused state dir; output:\n%s", out.String())
	}
	if names := listDir(t, state); len(names) > 0 {
		t.Errorf("refused state dir now holds %q, want nothing", names)
	}
}
