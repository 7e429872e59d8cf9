package main

import (
	"errors"
	"flag"
	"io"
	"testing"
	"time"

	"procfsd/fs"
	"procfsd/fuseconn"
)

// parseServe parses serve's flags as runServe does and validates them.
func parseServe(t *testing.T, args ...string) (fs.Config, error) {
	t.Helper()
	var f serveFlags
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	f.register(fl)
	if err := fl.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return f.config()
}

func TestServeBusyPollFlag(t *testing.T) {
	cfg, err := parseServe(t)
	if err != nil || cfg.BusyPoll != fuseconn.DefaultBusyPoll {
		t.Fatalf("default: BusyPoll %s, %v; want %s", cfg.BusyPoll, err, fuseconn.DefaultBusyPoll)
	}
	for _, ok := range []struct {
		arg  string
		want time.Duration
	}{{"0", 0}, {"50us", 50 * time.Microsecond}, {"1ms", time.Millisecond}} {
		cfg, err := parseServe(t, "--busy-poll", ok.arg)
		if err != nil || cfg.BusyPoll != ok.want {
			t.Errorf("--busy-poll %s: BusyPoll %s, %v; want %s", ok.arg, cfg.BusyPoll, err, ok.want)
		}
	}
	// A negative window, or one long enough to burn a CPU between sparse reads, is refused.
	for _, bad := range []string{"-1us", "2ms", "1s"} {
		if _, err := parseServe(t, "--busy-poll", bad); !errors.Is(err, errUsage) {
			t.Errorf("--busy-poll %s: %v, want a usage error", bad, err)
		}
	}
}
