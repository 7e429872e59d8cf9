package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// flagSet is a command's flags and its usage text. Every command's usage has the same shape
// (docs/behaviour.md §1.1): "usage: procfsd NAME …", a paragraph, an example, then the flags,
// which -h prints to stderr. A bad flag is not followed by the whole usage: run reports it as
// one line with exit status 2.
type flagSet struct {
	*flag.FlagSet
	usage  string
	stderr io.Writer
}

func newFlagSet(name, usage string, stderr io.Writer) *flagSet {
	fl := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), usage: usage, stderr: stderr}
	fl.SetOutput(io.Discard) // the flag package's own message would repeat run's
	fl.Usage = func() {}
	return fl
}

// parse parses args, which must all be flags.
func (fl *flagSet) parse(args []string) error {
	if err := fl.check(fl.Parse(args)); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fl.Arg(0))
	}
	return nil
}

// parseInterleaved parses flags that may appear before, between or after the positional
// arguments (`procfsd ctl list -o json`), which flag.Parse alone does not allow, and returns
// the positional arguments.
func (fl *flagSet) parseInterleaved(args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.check(fl.Parse(args)); err != nil {
			return nil, err
		}
		args = fl.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// check prints the usage for -h (flag.ErrHelp, exit 0) and marks any other parse error as
// bad usage (exit 2).
func (fl *flagSet) check(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fl.printUsage()
		return err
	}
	return fmt.Errorf("%w: %v", errUsage, err)
}

func (fl *flagSet) printUsage() {
	fmt.Fprint(fl.stderr, fl.usage)
	n := 0
	fl.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fl.SetOutput(fl.stderr)
	defer fl.SetOutput(io.Discard)
	fmt.Fprintln(fl.stderr, "\nflags:")
	fl.PrintDefaults()
}

// Defaults of the flags a client shares with serve.
const (
	defaultMountpoint = "/var/lib/procfsd"
	defaultStateDir   = "/run/procfsd"
)

// clientFlags are the flags of every command that talks to a running daemon (ctl, status,
// hook, reattach, upgrade): serve's --mountpoint and --state-dir, with serve's defaults, so that
// a daemon started with other values can be reached (docs/behaviour.md §1.1), and --timeout.
type clientFlags struct {
	mountpoint string
	stateDir   string
	timeout    time.Duration
}

// register defines the client flags on fl. Commands wait for different things, so each gives
// its --timeout default and what it bounds (waitFor, "how long to wait for …").
func (f *clientFlags) register(fl *flag.FlagSet, timeout time.Duration, waitFor string) {
	fl.StringVar(&f.mountpoint, "mountpoint", defaultMountpoint, "the daemon's --mountpoint")
	fl.StringVar(&f.stateDir, "state-dir", defaultStateDir, "the daemon's --state-dir (its control socket, pidfile and lock)")
	fl.DurationVar(&f.timeout, "timeout", timeout, "how long to wait for "+waitFor)
}
