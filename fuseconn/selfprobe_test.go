package fuseconn

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestProbeMountInChild: the probe runs in a child process of this binary and reports the
// errno it failed with.
func TestProbeMountInChild(t *testing.T) {
	dir := t.TempDir()
	if err := ProbeMount(dir, 30*time.Second); err != nil {
		t.Errorf("probe of %s: %v", dir, err)
	}
	if err := ProbeMount(filepath.Join(dir, "missing"), 30*time.Second); !errors.Is(err, unix.ENOENT) {
		t.Errorf("probe of a missing path: %v, want ENOENT", err)
	}
}
