package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"procfsd/cgroupview"
	"procfsd/ctlapi"
	"procfsd/statedir"
	"procfsd/switches"
)

func init() {
	commands["hook"] = command{"OCI createContainer hook: bind-mount the files into a container", runHook}
}

// hookFlags are the hook's flags; hooks.d passes them in "args" (docs/behaviour.md §1.1).
type hookFlags struct {
	clientFlags // --timeout: for the daemon's answer
	failClosed  bool
	deadline    time.Duration // for the whole hook
}

// The hook's bounds stay well under what runtimes give a hook (the hooks.d entry sets 30 s;
// runc and crun wait as long as the config's hook timeout says, and forever without one): an
// unresponsive daemon costs a container start 2 s, and no input or mount can hold it longer
// than 5 s.
const (
	defaultHookTimeout  = 2 * time.Second
	defaultHookDeadline = 5 * time.Second
)

const hookUsage = `usage: procfsd hook [flags] < OCI-STATE

An OCI createContainer hook (podman, CRI-O hooks.d): reads the container's state on stdin and its
bundle's config.json, registers the container with the daemon and, unless the container opts out
(annotation procfsd.io/container-stats-isolated=0) or the kernel virtualizes /proc itself,
bind-mounts the daemon's files over the container's /proc files.

example (a hooks.d entry, as in systemd/oci-hooks.d/procfsd.json):
  {"version": "1.0.0", "stages": ["createContainer"], "when": {"always": true},
   "hook": {"path": "/usr/local/bin/procfsd", "args": ["procfsd", "hook", "--state-dir", "/run/procfsd"]}}
`

func runHook(args []string, stderr io.Writer) error {
	var f hookFlags
	fl := newFlagSet("hook", hookUsage, stderr)
	f.register(fl.FlagSet, defaultHookTimeout, "the daemon's answer")
	fl.BoolVar(&f.failClosed, "fail-closed", false, "fail the container when the daemon is down or does not answer (default: start it without procfsd)")
	fl.DurationVar(&f.deadline, "deadline", defaultHookDeadline, "how long the whole hook may take")
	if err := fl.parse(args); err != nil {
		return err
	}
	if f.timeout <= 0 || f.deadline <= 0 {
		return fmt.Errorf("%w: --timeout and --deadline must be positive", errUsage)
	}
	return newHookRun(f, stderr).within(os.Stdin)
}

// hookStage is how far a hook run has got, for what its deadline means.
type hookStage int32

const (
	stageInput  hookStage = iota // reading the state and the bundle: a bad input fails
	stageDaemon                  // registering and cloning the daemon's files: fail-open
	stageMount                   // mounting into the rootfs: fails
)

// hookRun is one run of the hook, shared between its work and its deadline.
type hookRun struct {
	f      hookFlags
	stderr io.Writer
	stage  atomic.Int32
	id     atomic.Value // the container's ID, once read
	mounts mountSet
}

func newHookRun(f hookFlags, stderr io.Writer) *hookRun {
	return &hookRun{f: f, stderr: stderr}
}

// within runs the hook on the state read from stdin, bounded by --deadline. Reads, the
// daemon and FUSE lookups can block without end (a config.json that is a FIFO, a stopped
// daemon): the work runs aside and the deadline ends the process, after undoing the mounts
// made so far. Only the mounting stage is serialized against that undo (mountSet).
func (r *hookRun) within(stdin io.Reader) error {
	done := make(chan error, 1)
	go func() { done <- r.run(stdin) }()
	timer := time.NewTimer(r.f.deadline)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
	}
	r.mounts.close()
	err := fmt.Errorf("not done within its deadline of %v", r.f.deadline)
	switch hookStage(r.stage.Load()) {
	case stageInput:
		return fmt.Errorf("read the container's state and bundle: %w", err)
	case stageDaemon:
		return r.daemonDown(fmt.Errorf("%w: %w", ctlapi.ErrDaemonDown, err))
	default:
		return fmt.Errorf("mount into container %s: %w", r.id.Load(), err)
	}
}

func (r *hookRun) run(stdin io.Reader) error {
	c, err := readHookInput(stdin)
	if err != nil {
		return err
	}
	r.id.Store(c.ID)
	err = r.hook(c)
	if err != nil {
		r.mounts.close()
	}
	return err
}

// daemonDown lets the container start without procfsd's files, with one line on the runtime's
// log, unless --fail-closed.
func (r *hookRun) daemonDown(err error) error {
	if r.f.failClosed {
		return fmt.Errorf("container %s needs procfsd's files (--fail-closed): %w", r.id.Load(), err)
	}
	fmt.Fprintf(r.stderr, "procfsd hook: container %s starts without procfsd's files: %v\n", r.id.Load(), err)
	return nil
}

// readHookInput reads the OCI state from r and the bundle's config.json, and checks that the
// root filesystem exists.
func readHookInput(r io.Reader) (*hookContainer, error) {
	b, err := readBounded(r, "OCI state on stdin")
	if err != nil {
		return nil, err
	}
	st, err := parseState(b)
	if err != nil {
		return nil, err
	}
	cfg, err := readConfig(filepath.Join(st.Bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("read bundle of %s: %w", st.ID, err)
	}
	c, err := parseConfig(st, cfg)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(c.Rootfs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("rootfs of %s: %s is not a directory", c.ID, c.Rootfs)
	}
	return c, nil
}

// readConfig reads config.json: a regular file of at most maxHookInput bytes, never a FIFO
// or device waited on (statedir.ReadRegular).
func readConfig(path string) ([]byte, error) {
	return statedir.ReadRegular(path, maxHookInput)
}

// readBounded reads all of r, refusing more than maxHookInput bytes.
func readBounded(r io.Reader, what string) ([]byte, error) {
	b, err := statedir.ReadLimited(r, maxHookInput, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return b, nil
}

// hook registers c with the daemon and mounts the files unless c opts out or the kernel is
// native. A daemon that is down or does not answer within --timeout lets the container start
// without procfsd, unless --fail-closed; the runtime fails the container on any non-zero exit
// (runtime-spec config.md "createContainer Hooks").
func (r *hookRun) hook(c *hookContainer) error {
	r.stage.Store(int32(stageDaemon))
	// The hook's own cgroups are the container's: runc runs createContainer hooks from its init,
	// after joining them.
	cg, err := cgroupview.ProcessCgroups("/proc", os.Getpid())
	if err != nil {
		return err
	}
	resp, err := ctlapi.Call(r.f.stateDir, ctlapi.Request{Op: "register", Name: c.ID, Annotations: c.Annotations, Cgroup: cg}, r.f.timeout)
	if err != nil {
		if errors.Is(err, ctlapi.ErrDaemonDown) {
			return r.daemonDown(err)
		}
		return fmt.Errorf("register container %s: %w", c.ID, err)
	}
	if resp.Status.Mode == switches.ModeNative {
		return nil // the kernel virtualizes; its switch was set by the daemon
	}
	if resp.Entry != nil && resp.Entry.Source == switches.SourceAnnotation && !resp.Entry.Isolated {
		return nil // opted out: the container reads the host's own files
	}
	trees, err := cloneSources(r.f.mountpoint)
	if errors.Is(err, errOldKernel) {
		return r.daemonDown(err)
	}
	if err != nil {
		return err
	}
	r.stage.Store(int32(stageMount))
	return mountInto(trees, c.Rootfs, &r.mounts)
}
