package fs

import (
	"os/exec"
	"path/filepath"
	"testing"
)

const hostProc = "../testdata/hosts/debian12-2cpu/proc"

// copyTree copies a fixture directory so a test can change it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v: %s", src, err, out)
	}
	return dst
}

// hostOn is the host switch stats_isolated of srv.
func hostOn(srv *Server) bool {
	on, _ := srv.switches.Host()
	return on
}
