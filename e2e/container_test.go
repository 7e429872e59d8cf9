//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// container is a place to run real programs whose /proc files are bind-mounted from the daemon:
// an unshare pid+mount namespace in test cgroups, a podman container or a Docker container.
type container interface {
	String() string
	// command returns a command that runs args inside the container when started with
	// startCommand; its stdout and stderr are the caller's to set.
	command(args ...string) *exec.Cmd
	// startCommand starts cmd (from command) so that it runs inside the container.
	startCommand(cmd *exec.Cmd) error
	// started brackets the moment the container's init started, in wall-clock time.
	started() (after, before time.Time)
}

// commandEnv is the environment every program in a container gets: a known time zone (uptime -s
// prints local time), a terminal type top accepts and the C locale for stable number formats.
var commandEnv = []string{"TZ=UTC", "TERM=dumb", "LC_ALL=C",
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// run runs args in c and returns stdout; a non-zero exit or a run over 60s is an error that
// carries stderr.
func run(c container, args ...string) (string, error) {
	cmd := c.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := c.startCommand(cmd); err != nil {
		return "", fmt.Errorf("%s: start %q: %v", c, args, err)
	}
	if err := waitGroup(cmd, 60*time.Second); err != nil {
		return stdout.String(), fmt.Errorf("%s: %q: %v; stderr: %s", c, args, err, stderr.String())
	}
	return stdout.String(), nil
}

// mustRun is run that fails the test on error.
func mustRun(t testing.TB, c container, args ...string) string {
	t.Helper()
	out, err := run(c, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s$ %s\n%s", c, strings.Join(args, " "), out)
	return out
}

// background starts args in c and returns its stdout as a stream of lines and a stop function
// (also registered as a cleanup) that kills it, inside the container too: a runtime's exec
// client can die without its process in the container noticing.
func background(t *testing.T, c container, args ...string) (<-chan string, func()) {
	t.Helper()
	cmd := c.command(append([]string{"sh", "-c", `echo $$; exec "$@"`, "sh"}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := c.startCommand(cmd); err != nil {
		t.Fatalf("%s: start %q: %v", c, args, err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); pw.Close(); close(waited) }()
	lines := make(chan string, 1024)
	sc := bufio.NewScanner(pr)
	pid := make(chan string, 1)
	quit := make(chan struct{}) // closed by stop: lines nobody reads any more are dropped
	go func() {
		if sc.Scan() {
			pid <- sc.Text()
		}
		close(pid)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-quit:
			}
		}
		close(lines)
	}()
	var inner string
	select {
	case inner = <-pid:
	case <-time.After(20 * time.Second):
	}
	if _, err := strconv.Atoi(inner); err != nil {
		killGroup(cmd)
		t.Fatalf("%s: %q did not start (pid %q): %s", c, args, inner, stderr.String())
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		close(quit)
		run(c, "kill", "-9", inner)
		killGroup(cmd)
		<-waited
	}
	t.Cleanup(stop)
	return lines, stop
}

// killGroup kills the process group a container command runs in (commands start with Setpgid,
// and the processes nsenter forks into the pid namespace stay in the group).
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// waitGroup waits for cmd, which runs in a process group of its own (gated), at most timeout:
// it returns cmd's error, or kills the group and waits for it past timeout.
func waitGroup(cmd *exec.Cmd, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		killGroup(cmd)
		<-done
		return fmt.Errorf("still running after %v", timeout)
	}
}

// gated returns sh waiting for one line on stdin before it execs args. The caller moves the
// shell into a cgroup first, so that args and everything it forks start inside that cgroup.
func gated(args ...string) *exec.Cmd {
	cmd := exec.Command("sh", append([]string{"-c", `read -r _ || exit 97; exec "$@"`, "gate"}, args...)...)
	cmd.Env = commandEnv
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// startGated starts a gated command, moves it into cg and opens the gate.
func startGated(cg *cgroup, cmd *exec.Cmd) error {
	w, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := cg.add(cmd.Process.Pid); err != nil {
		killGroup(cmd)
		cmd.Wait()
		return fmt.Errorf("add pid %d to %s: %v", cmd.Process.Pid, cg, err)
	}
	_, err = io.WriteString(w, "go\n")
	w.Close()
	return err
}

// unshareContainer is a container made by hand the way LXCFS's own tests make one: init of a new
// pid namespace (unshare --pid --fork --mount --mount-proc) in the container's root cgroup, the
// daemon's files bind-mounted over /proc/* and /sys/devices/system/cpu/online in its mount
// namespace. Commands enter it with nsenter from a process already in the reader cgroup.
type unshareContainer struct {
	name   string
	root   *cgroup // the container root cgroup: what every reader must see
	reader *cgroup // where commands run: root, or a cgroup nested in it
	init   int     // host PID of the namespace's init
	t0, t1 time.Time
}

// procFiles are the daemon files a container bind-mounts over /proc.
var procFiles = []string{"cpuinfo", "meminfo", "stat", "vmstat", "loadavg", "uptime", "swaps", "diskstats"}

const onlineFile = "sys/devices/system/cpu/online"

// newUnshareContainer starts the container with init in root (on cgroup v2, when reader is
// nested, in root/init.scope, the layout systemd-based runtimes use, since a v2 cgroup with
// enabled controllers below it cannot hold processes).
func newUnshareContainer(t *testing.T, d *daemon, name string, root, reader *cgroup) *unshareContainer {
	t.Helper()
	c := &unshareContainer{name: name, root: root, reader: reader}
	initCg := root
	if root.v2 != nil && reader != root {
		initCg = root.child(t, "init.scope", limits{})
	}
	var script strings.Builder
	script.WriteString("set -e\n")
	bind := func(rel, target string) {
		fmt.Fprintf(&script, "mount --bind %s %s\n", shellQuote(d.path(rel)), target)
	}
	for _, rel := range d.virtualFiles() {
		bind(rel, "/"+rel)
	}
	script.WriteString("echo ready\nexec sleep 100000\n")

	cmd := gated("unshare", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc",
		"--propagation", "private", "sh", "-c", script.String())
	c.t0, c.t1 = startInit(t, name, initCg, cmd)
	// unshare --fork: the namespace's init is unshare's only child.
	poll(t, 5*time.Second, name+": find init", func() error {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		if err != nil {
			return err
		}
		f := strings.Fields(string(b))
		if len(f) != 1 {
			return notYet("children of unshare: %q", b)
		}
		c.init, err = strconv.Atoi(f[0])
		return err
	})
	t.Logf("%s: init pid %d in %s, commands in %s", name, c.init, initCg.path, reader.path)
	return c
}

// startInit starts cmd, a gated container init that prints "ready" once it is set up, in cg
// and returns once it has, with the times of the start and of "ready"; cleanup kills its
// process group and waits for it. A failure names name and shows init's stderr.
func startInit(t *testing.T, name string, cg *cgroup, cmd *exec.Cmd) (t0, t1 time.Time) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	t0 = time.Now()
	if err := startGated(cg, cmd); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	t.Cleanup(func() { killGroup(cmd); <-waited })

	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) != "ready" {
			<-waited
			t.Fatalf("%s: init failed: %q; stderr: %s", name, line, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: init not ready after 20s; stderr: %s", name, stderr.String())
	}
	return t0, time.Now()
}

func (c *unshareContainer) String() string { return c.name }

func (c *unshareContainer) command(args ...string) *exec.Cmd {
	return gated(append([]string{"nsenter", "-t", strconv.Itoa(c.init), "-m", "-p", "--"}, args...)...)
}

func (c *unshareContainer) startCommand(cmd *exec.Cmd) error { return startGated(c.reader, cmd) }

func (c *unshareContainer) started() (time.Time, time.Time) { return c.t0, c.t1 }

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// selfExe is the test binary, which containers can run for the helper modes in helper_test.go.
func selfExe(t testing.TB) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(p)
}
