package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"procfsd/cgroupview"
	"procfsd/fs"
)

func init() {
	commands["hook"] = command{"OCI createContainer hook: bind-mount the files into a container", runHook}
}

// hookFlags are the hook's flags; hooks.d passes them in "args" (SPEC §1.1).
type hookFlags struct {
	mountpoint string
	stateDir   string
	failClosed bool
	timeout    time.Duration
}

const hookUsage = `usage: procfsd hook [flags] < OCI-STATE
An OCI createContainer hook (podman, CRI-O hooks.d): reads the container's state on stdin and its
bundle's config.json, registers the container with the daemon and, unless the container opts out
(annotation procfsd.io/container-stats-isolated=0) or the kernel virtualizes /proc itself,
bind-mounts the daemon's files over the container's /proc files.
flags:
`

func runHook(args []string, stderr io.Writer) error {
	var f hookFlags
	fl := flag.NewFlagSet("hook", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, hookUsage); fl.PrintDefaults() }
	fl.StringVar(&f.mountpoint, "mountpoint", "/var/lib/procfsd", "the daemon's mountpoint")
	fl.StringVar(&f.stateDir, "state-dir", "/run/procfsd", "the daemon's state directory (control socket)")
	fl.BoolVar(&f.failClosed, "fail-closed", false, "fail the container when the daemon is down (default: start it without procfsd)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the daemon")
	if err := fl.Parse(args); err != nil {
		return flagErr(err)
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fl.Arg(0))
	}
	c, err := readHookInput(os.Stdin)
	if err != nil {
		return err
	}
	return hook(c, f, stderr)
}

// readHookInput reads the OCI state from r and the bundle's config.json, and checks that the
// root filesystem exists.
func readHookInput(r io.Reader) (*hookContainer, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxHookInput))
	if err != nil {
		return nil, fmt.Errorf("read OCI state from stdin: %w", err)
	}
	st, err := parseState(b)
	if err != nil {
		return nil, err
	}
	cfg, err := readLimited(filepath.Join(st.Bundle, "config.json"))
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

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxHookInput))
}

// hook registers c with the daemon and mounts the files unless c opts out or the kernel is
// native. A daemon that is down lets the container start without procfsd, unless
// --fail-closed; the runtime fails the container on any non-zero exit (runtime-spec
// config.md "createContainer Hooks").
func hook(c *hookContainer, f hookFlags, stderr io.Writer) error {
	// The hook's own cgroups are the container's: runc runs createContainer hooks from its init,
	// after joining them.
	cg, err := cgroupview.ProcessCgroups("/proc", os.Getpid())
	if err != nil {
		return err
	}
	resp, err := fs.Call(f.stateDir, fs.Request{Op: "register", Name: c.ID, Annotations: c.Annotations, Cgroup: cg}, f.timeout)
	if err != nil {
		if errors.Is(err, fs.ErrDaemonDown) && !f.failClosed {
			fmt.Fprintf(stderr, "procfsd hook: container %s starts without procfsd's files: %v\n", c.ID, err)
			return nil
		}
		return fmt.Errorf("register container %s: %w", c.ID, err)
	}
	if resp.Status.Mode == fs.ModeNative {
		return nil // the kernel virtualizes; its switch was set by the daemon
	}
	if resp.Entry != nil && resp.Entry.Source == fs.SourceAnnotation && !resp.Entry.Isolated {
		return nil // opted out: the container reads the host's own files
	}
	return mountInto(f.mountpoint, c.Rootfs)
}
