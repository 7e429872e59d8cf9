package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestVersionFlag checks that --version, -version and version all print the version line and
// exit 0, as users of other daemons expect.
func TestVersionFlag(t *testing.T) {
	if os.Getenv("PROCFSD_VERSION_CHILD") != "" {
		os.Exit(run(strings.Fields(os.Getenv("PROCFSD_VERSION_CHILD")), os.Stderr))
	}
	for _, arg := range []string{"--version", "-version", "version"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestVersionFlag$")
		cmd.Env = append(os.Environ(), "PROCFSD_VERSION_CHILD="+arg)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("procfsd %s: %v, stderr %q", arg, err, stderr.String())
			continue
		}
		if got := stdout.String(); !strings.HasPrefix(got, "procfsd "+version) || !strings.Contains(got, "go1.") {
			t.Errorf("procfsd %s printed %q, want \"procfsd %s … go1.…\"", arg, got, version)
		}
	}
}
