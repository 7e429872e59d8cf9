package reattach

import (
	"strings"
	"testing"
)

// TestRunNeedsLiveMount: without a live procfsd mount there is nothing to clone from, and Run
// must say so before touching any namespace.
func TestRunNeedsLiveMount(t *testing.T) {
	dir := t.TempDir()
	r, err := Run(Options{Mountpoint: dir})
	if err == nil || !strings.Contains(err.Error(), "no fuse.procfsd mount at "+dir) {
		t.Errorf("Run on a plain directory = %+v, %v; want a 'no fuse.procfsd mount' error", r, err)
	}
}
