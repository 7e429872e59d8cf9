package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestClientExitCodes: ctl, status and hook print usage with -h and exit 0, exit 2 on a bad
// command line and 1 on a failure, with one line on stderr (docs/behaviour.md §1.1).
func TestClientExitCodes(t *testing.T) {
	gone := t.TempDir() // no daemon listens here
	for _, tt := range []struct {
		args  []string
		code  int
		match string
	}{
		{[]string{"ctl", "-h"}, 0, "set container"},
		{[]string{"status", "-h"}, 0, "-state-dir"},
		{[]string{"hook", "-h"}, 0, "-fail-closed"},
		{[]string{"ctl"}, 2, "no command"},
		{[]string{"ctl", "set", "host", "2"}, 2, "0 or 1"},
		{[]string{"ctl", "set", "container", "x"}, 2, "bad command"},
		{[]string{"ctl", "list", "-o", "yaml"}, 2, "table or json"},
		{[]string{"ctl", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"status", "extra"}, 2, "unexpected argument"},
		{[]string{"hook", "extra"}, 2, "unexpected argument"},
		{[]string{"ctl", "--state-dir", gone, "get"}, 1, "not reachable"},
		{[]string{"status", "--state-dir", gone}, 1, "not reachable"},
		{[]string{"ctl", "list", "--state-dir", gone, "-o", "json"}, 1, "not reachable"},
	} {
		var stderr bytes.Buffer
		code := run(tt.args, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.match) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.match)
		}
		if tt.code == 1 && strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
			t.Errorf("%v: error is not one line: %q", tt.args, stderr.String())
		}
	}
}
