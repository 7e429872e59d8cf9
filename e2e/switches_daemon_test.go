//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ctlDaemon is a procfsd started on a given mountpoint and state directory, so that a test can
// stop it and start a successor on the same state (docs/behaviour.md §3: values survive a restart).
type ctlDaemon struct {
	*daemon
	state   string
	stopped bool
}

// switchDirs makes the mountpoint and state directory of a switch test, under a directory
// removed at cleanup.
func switchDirs(t *testing.T) (mnt, state string) {
	t.Helper()
	dir, mnt := mountDirs(t, "sw-")
	return mnt, filepath.Join(dir, "state")
}

// startCtlDaemon runs `procfsd serve` on mnt and state with extra flags and waits for the mount.
func startCtlDaemon(t *testing.T, mnt, state string, extra ...string) *ctlDaemon {
	t.Helper()
	tg := namedTarget(t, "procfsd")
	args := append([]string{"serve", "--mountpoint", mnt, "--state-dir", state,
		"--loadavg-interval", "1s", "--log-format", "json", "--log-level", "info"}, extra...)
	d := &ctlDaemon{daemon: &daemon{target: tg, mnt: mnt, stderr: &syncBuffer{}, done: make(chan struct{})}, state: state}
	d.cmd = exec.Command(tg.bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.stderr, d.stderr
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start procfsd: %v", err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.shutdown(t) })
	poll(t, 20*time.Second, "procfsd mounted and listening", func() error {
		select {
		case <-d.done:
			t.Fatalf("procfsd exited before mounting (%v); output:\n%s", d.err, d.stderr)
		default:
		}
		if !isMounted(t, mnt, tg.fstype) {
			return notYet("no mount at %s", mnt)
		}
		if _, err := os.Stat(filepath.Join(state, "ctl.sock")); err != nil {
			return notYet("%v", err)
		}
		return nil
	})
	t.Logf("procfsd %s (pid %d)", strings.Join(args, " "), d.pid())
	return d
}

// shutdown stops the daemon with SIGTERM once and checks that it exited 0 and unmounted.
func (d *ctlDaemon) shutdown(t *testing.T) {
	t.Helper()
	if d.stopped {
		return
	}
	d.stopped = true
	d.stop(t)
}

// ctl runs `procfsd <args> --state-dir <state>` and returns stdout, stderr and the exit code.
func (d *ctlDaemon) ctl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runProcfsd(t, append(args, "--state-dir", d.state)...)
}

func runProcfsd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(namedTarget(t, "procfsd").bin, args...)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("procfsd %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// mustCtl is ctl that fails the test on a non-zero exit.
func (d *ctlDaemon) mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := d.ctl(t, args...)
	if code != 0 {
		t.Fatalf("procfsd %v: exit %d: %s", args, code, errOut)
	}
	return out
}

// ctlEntry is one row of `procfsd ctl list -o json`.
type ctlEntry struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Cgroup   map[string]string `json:"cgroup"`
	Isolated bool              `json:"container_stats_isolated"`
	Source   string            `json:"source"`
	Mode     string            `json:"mode"`
}

func (d *ctlDaemon) list(t *testing.T) map[string]ctlEntry {
	t.Helper()
	var rows []ctlEntry
	out := d.mustCtl(t, "ctl", "list", "-o", "json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("ctl list -o json: %v: %q", err, out)
	}
	m := map[string]ctlEntry{}
	for _, r := range rows {
		m[r.ID] = r
	}
	return m
}

// pollMemTotal waits until c's /proc/meminfo shows want bytes (a switch change reaches the
// next read, or at most a render cache's lifetime later).
func pollMemTotal(t *testing.T, c container, want uint64) {
	t.Helper()
	poll(t, 10*time.Second, fmt.Sprintf("%s MemTotal %d kB", c, want/1024), func() error {
		out, err := run(c, "grep", "MemTotal", "/proc/meminfo")
		if err != nil {
			return err
		}
		if f := strings.Fields(out); len(f) < 2 || f[1] != strconv.FormatUint(want/1024, 10) {
			return notYet("%q", strings.TrimSpace(out))
		}
		return nil
	})
}

// hooksDir writes the shipped hooks.d entry into a temporary directory with the binary,
// mountpoint and state directory of this test, changing nothing else, so the test proves the
// file `make install` installs.
func hooksDir(t *testing.T, mnt, state string, extraArgs ...string) string {
	t.Helper()
	b, err := os.ReadFile("../systemd/oci-hooks.d/procfsd.json")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("systemd/oci-hooks.d/procfsd.json: %v", err)
	}
	hook := h["hook"].(map[string]any)
	hook["path"] = namedTarget(t, "procfsd").bin
	var args []string
	for _, a := range hook["args"].([]any) {
		args = append(args, a.(string))
	}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--mountpoint":
			args[i+1] = mnt
		case "--state-dir":
			args[i+1] = state
		}
	}
	hook["args"] = append(args, extraArgs...)
	dir := t.TempDir()
	out, _ := json.MarshalIndent(h, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "procfsd.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
