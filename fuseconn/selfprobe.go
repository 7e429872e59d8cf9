package fuseconn

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The process that serves a mount never touches that mount itself. A request the kernel has
// handed to the server is waited for uninterruptibly (fs/fuse/dev.c, request_wait_answer: once
// the request is sent, only its answer or the connection's end wakes the caller). If the caller
// is a thread of the server and the server dies meanwhile, that thread can never exit, so the
// process's descriptor table, holding /dev/fuse, is never released: the connection is never
// ended, the process never exits, and every reader of the mount hangs until someone aborts the
// connection through /sys/fs/fuse/connections. So whatever procfsd needs to ask its own mount
// (that it answers, that it does not implement POLL) is asked by a short-lived child process,
// which holds no /dev/fuse descriptor and whose request a successor answers or the connection's
// end fails.

// envProbe names the probe a child runs (selfProbeInit); it is set only by procfsd itself.
const envProbe = "PROCFSD_PROBE"

// Probes a child can run, and the path it runs them on in envProbeArg.
const (
	probePoll = "poll"  // pollHack
	probeStat = "statx" // a GETATTR past the attribute cache
)

const envProbeArg = "PROCFSD_PROBE_PATH"

// A child started with envProbe runs the probe and exits before anything else of the binary
// runs: the status is 0, or the errno the probe failed with (255 for anything else). It works
// in any binary that links this package, the daemon's and the tests' alike.
func init() {
	kind, ok := os.LookupEnv(envProbe)
	if !ok {
		return
	}
	os.Exit(runProbe(kind, os.Getenv(envProbeArg)))
}

func runProbe(kind, path string) int {
	var err error
	switch kind {
	case probePoll:
		err = pollHack(path)
	case probeStat:
		var st unix.Statx_t
		err = unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_FORCE_SYNC, unix.STATX_INO, &st)
	default:
		err = fmt.Errorf("unknown probe %q", kind)
	}
	var errno unix.Errno
	switch {
	case err == nil:
		return 0
	case errors.As(err, &errno) && errno > 0 && errno < 255:
		return int(errno)
	}
	fmt.Fprintln(os.Stderr, err)
	return 255
}

// probeTimeout bounds a probe of the server's own mount; its request loops are running, so
// only a server too busy to answer for this long misses it.
const probeTimeout = time.Minute

// childProbe runs probe kind on path in a child process (this binary, via /proc/self/exe, so
// the same one even after the file on disk was replaced) and returns its error: the errno the
// probe failed with, or why the child did not run or answer within timeout.
func childProbe(kind, path string, timeout time.Duration) error {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), envProbe+"="+kind, envProbeArg+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("probe %s: start child: %w", path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		// The child's request, if the server never read it, is withdrawn by the kill; if it
		// was read, the answer or the connection's end releases the child.
		cmd.Process.Kill()
		return fmt.Errorf("probe %s: no answer within %v", path, timeout)
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit) && exit.ExitCode() > 0 && exit.ExitCode() < 255:
		return fmt.Errorf("probe %s: %w", path, unix.Errno(exit.ExitCode()))
	case errors.As(err, &exit) && exit.ExitCode() == 255:
		return fmt.Errorf("probe %s: %s", path, stderr.String())
	}
	return fmt.Errorf("probe %s: %w", path, err)
}

// ProbeMount asks the mount at mountpoint for its root's attributes past the kernel's cache,
// from a child process (see above); an error wraps the errno, e.g. ENOTCONN once the
// connection is gone.
func ProbeMount(mountpoint string, timeout time.Duration) error {
	return childProbe(probeStat, mountpoint, timeout)
}

// DisablePoll is pollHack run from a child process: procfsd's Serve calls it once its loops
// run, before any client opens a file.
func (conn *Conn) DisablePoll() error {
	mountpoint := conn.Mountpoint
	abs, err := filepath.Abs(mountpoint)
	if err != nil {
		return fmt.Errorf("disable poll on %s: %w", mountpoint, err)
	}
	if err := childProbe(probePoll, abs, probeTimeout); err != nil {
		return fmt.Errorf("disable poll: %w", err)
	}
	return nil
}

// limitedBuffer keeps the first 4 KiB written to it: a child's error line.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
