//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// restartable is a procfsd process on a mountpoint that outlives it: the restart tests kill
// it, start a successor on the same mountpoint, and decide themselves what the mount must look
// like afterwards (unlike startDaemon, whose cleanup expects a clean SIGTERM and an unmount).
type restartable struct {
	mnt, state string
	cmd        *exec.Cmd
	out        *syncBuffer
	done       chan struct{}
	err        error
}

// restartDirs returns a fresh mountpoint and state directory under a procfsd-e2e- directory,
// so TestMain reports any mount the test leaves behind.
func restartDirs(t *testing.T) (mnt, state string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "procfsd-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Detach whatever is left (live or dead), then remove the directory.
		for isMounted(t, filepath.Join(dir, "mnt"), "fuse.procfsd") {
			if err := syscall.Unmount(filepath.Join(dir, "mnt"), syscall.MNT_DETACH); err != nil {
				t.Errorf("detach %s: %v", dir, err)
				break
			}
		}
		os.RemoveAll(dir)
	})
	t.Logf("mountpoint %s", filepath.Join(dir, "mnt"))
	mnt, state = filepath.Join(dir, "mnt"), filepath.Join(dir, "state")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	return mnt, state
}

// startRestartable starts `procfsd serve` through sh, which exports LISTEN_PID and WATCHDOG_PID
// as its own PID and then execs procfsd under that PID, as systemd sets them for the process
// it forks. env adds variables (NOTIFY_SOCKET, LISTEN_FDS, ...); files become fds 3, 4, ...
func startRestartable(t *testing.T, mnt, state string, env []string, files []*os.File) *restartable {
	t.Helper()
	bin := namedTarget(t, "procfsd").bin
	d := &restartable{mnt: mnt, state: state, out: &syncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command("sh", "-c", `export LISTEN_PID=$$ WATCHDOG_PID=$$; exec "$@"`, "sh",
		bin, "serve", "--mountpoint", mnt, "--state-dir", state, "--log-format", "json", "--log-level", "info")
	d.cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	d.cmd.ExtraFiles = files
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start procfsd: %v", err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
	})
	return d
}

// waitMounted waits until the mountpoint serves meminfo.
func (d *restartable) waitMounted(t *testing.T) {
	t.Helper()
	poll(t, 20*time.Second, "procfsd serving "+d.mnt, func() error {
		select {
		case <-d.done:
			t.Fatalf("procfsd exited (%v); output:\n%s", d.err, d.out)
		default:
		}
		b, err := os.ReadFile(filepath.Join(d.mnt, "proc/meminfo"))
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(b, []byte("MemTotal:")) {
			return fmt.Errorf("meminfo starts %q", firstLineOf(b))
		}
		return nil
	})
}

// kill ends the process with SIGKILL: a crash, with no chance to unmount or hand anything over.
func (d *restartable) kill(t *testing.T) {
	t.Helper()
	d.cmd.Process.Kill()
	<-d.done
}

// term sends SIGTERM and waits for exit status 0.
func (d *restartable) term(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		if d.err != nil {
			t.Errorf("procfsd: SIGTERM: exit status %v, want 0; output tail:\n%s", d.err, tail(d.out.String(), 20))
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("procfsd did not exit within 15s of SIGTERM; output tail:\n%s", tail(d.out.String(), 20))
	}
}

// logged reports whether the daemon logged a JSON line with msg and every one of the fields
// (each a `"key":value` fragment).
func (d *restartable) logged(msg string, fields ...string) bool {
	for _, l := range strings.Split(d.out.String(), "\n") {
		if !strings.Contains(l, `"msg":"`+msg+`"`) {
			continue
		}
		all := true
		for _, f := range fields {
			all = all && strings.Contains(l, f)
		}
		if all {
			return true
		}
	}
	return false
}

// procfsdMounts lists "mount-id major:minor" of every procfsd mount at mnt in our namespace.
func procfsdMounts(t testing.TB, mnt string) []string {
	t.Helper()
	b := readFile(t, "/proc/self/mountinfo")
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(g) >= 1 && unescapeMountinfo(f[4]) == mnt && g[0] == "fuse.procfsd" {
			out = append(out, f[0]+" "+f[2])
		}
	}
	return out
}

func firstLineOf(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return string(line)
}
