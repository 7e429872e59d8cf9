package main

import (
	"bytes"
	"flag"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestCommandHelp: every public command's -h exits 0 with the same shape of usage, a
// synopsis and an example (docs/behaviour.md §1.1). It runs over commands, so a command
// registered without them fails here.
func TestCommandHelp(t *testing.T) {
	names := publicCommands()
	if len(names) < 7 {
		t.Fatalf("public commands %v; want at least serve, ctl, status, hook, reattach, upgrade, version", names)
	}
	for _, name := range names {
		for _, h := range []string{"-h", "--help"} {
			var stderr bytes.Buffer
			code := run([]string{name, h}, &stderr)
			out := stderr.String()
			if code != 0 {
				t.Errorf("procfsd %s %s: exit %d, want 0; stderr %q", name, h, code, out)
			}
			if !strings.HasPrefix(out, "usage: procfsd "+name) {
				t.Errorf("procfsd %s %s: output does not start with %q:\n%s", name, h, "usage: procfsd "+name, out)
			}
			if !strings.Contains(out, "\nexample:\n  procfsd ") && !strings.Contains(out, "\nexample (") {
				t.Errorf("procfsd %s %s: no example section:\n%s", name, h, out)
			}
			if strings.Contains(out, "Usage of") {
				t.Errorf("procfsd %s %s: the flag package's bare usage:\n%s", name, h, out)
			}
		}
		// procfsd help NAME is NAME -h.
		var stderr bytes.Buffer
		if code := run([]string{"help", name}, &stderr); code != 0 || !strings.HasPrefix(stderr.String(), "usage: procfsd "+name) {
			t.Errorf("procfsd help %s: exit %d, output %q", name, code, stderr.String())
		}
	}
}

// TestTopLevelHelp: procfsd -h lists each public command on one line, hides the internal
// ones, which still run, and points at procfsd <command> -h.
func TestTopLevelHelp(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"-h"}, &stderr); code != 0 {
		t.Fatalf("procfsd -h: exit %d", code)
	}
	out := stderr.String()
	for _, name := range publicCommands() {
		if !strings.Contains(out, "\n  "+name+" ") {
			t.Errorf("procfsd -h does not list %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "procfsd <command> -h") {
		t.Errorf("procfsd -h does not point at procfsd <command> -h:\n%s", out)
	}
	if len(internalCommands) == 0 {
		t.Fatal("no internal commands: native-helper should be one")
	}
	for name := range internalCommands {
		if _, ok := commands[name]; !ok {
			t.Errorf("internal command %s is not registered", name)
		}
		if strings.Contains(out, name) {
			t.Errorf("procfsd -h lists the internal command %s:\n%s", name, out)
		}
	}
	// Hidden is not gone: native-helper is dispatched (and fails on its missing arguments).
	stderr.Reset()
	if code := run([]string{"native-helper"}, &stderr); code != 1 || strings.Contains(stderr.String(), "unknown command") {
		t.Errorf("procfsd native-helper: exit %d, stderr %q; want it run (exit 1 on no arguments)", code, stderr.String())
	}
}

// TestClientFlags: the commands that talk to a daemon all take --mountpoint, --state-dir and
// --timeout, registered by clientFlags.register: the same help for the first two, and each
// command's own --timeout default.
func TestClientFlags(t *testing.T) {
	ref := flag.NewFlagSet("ref", flag.ContinueOnError)
	var f clientFlags
	f.register(ref, time.Second, "x")
	for _, tt := range []struct {
		name    string
		timeout string
	}{
		{"ctl", "10s"}, {"status", "10s"}, {"hook", "2s"}, {"reattach", "2s"}, {"upgrade", "30s"},
	} {
		var stderr bytes.Buffer
		args := []string{tt.name, "--mountpoint", "/m", "--state-dir", "/s", "--timeout", "1s", "-h"}
		if code := run(args, &stderr); code != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
			continue
		}
		out := stderr.String()
		for _, name := range []string{"mountpoint", "state-dir"} {
			fl := ref.Lookup(name)
			want := "  -" + name + " string\n    \t" + fl.Usage + " (default \"" + fl.DefValue + "\")\n"
			if !strings.Contains(out, want) {
				t.Errorf("procfsd %s -h: no %q (clientFlags.register's):\n%s", tt.name, want, out)
			}
		}
		if !strings.Contains(out, "  -timeout duration\n    \thow long to wait for ") || !strings.Contains(out, "(default "+tt.timeout+")") {
			t.Errorf("procfsd %s -h: --timeout missing or its default is not %s:\n%s", tt.name, tt.timeout, out)
		}
	}
}

// TestNoDaemonError: a client pointed at a state dir with no daemon fails with exit 1 and
// one line naming the socket once, not net's "dial …: dial unix …: connect: …".
func TestNoDaemonError(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	for _, args := range [][]string{{"status", "--state-dir", dir}, {"ctl", "get", "--state-dir", dir}} {
		var stderr bytes.Buffer
		code := run(args, &stderr)
		out := stderr.String()
		if code != 1 {
			t.Errorf("%v: exit %d, want 1; stderr %q", args, code, out)
		}
		if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
			t.Errorf("%v: stderr is not one line: %q", args, out)
		}
		if strings.Count(out, sock) != 1 || strings.Contains(out, "dial") {
			t.Errorf("%v: stderr %q; want the socket %s once and no \"dial\"", args, out, sock)
		}
		if !strings.HasPrefix(out, "procfsd "+args[0]+": ") || !strings.Contains(out, "is procfsd serve running?") {
			t.Errorf("%v: stderr %q; want \"procfsd %s: … (is procfsd serve running?)\"", args, out, args[0])
		}
	}
}

// TestBadFlagOneLine: a bad flag is one line and exit 2 for every public command, not the
// flag package's message followed by the whole usage.
func TestBadFlagOneLine(t *testing.T) {
	for _, name := range publicCommands() {
		var stderr bytes.Buffer
		code := run([]string{name, "--no-such-flag"}, &stderr)
		out := stderr.String()
		if code != 2 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "-no-such-flag") ||
			!strings.Contains(out, "procfsd "+name+" -h") {
			t.Errorf("procfsd %s --no-such-flag: exit %d, stderr %q; want 2 and one line pointing at -h", name, code, out)
		}
	}
}

func publicCommands() []string {
	var names []string
	for name := range commands {
		if !internalCommands[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
