package reattach

import (
	"errors"
	"os"
	"path/filepath"
	"procfsd/statedir"
	"strings"
	"testing"
)

// TestScanBoundsMountinfo: a namespace whose mount table is over the bound is listed as
// unreadable, not read whole, and the other namespaces are still scanned.
func TestScanBoundsMountinfo(t *testing.T) {
	proc := t.TempDir()
	ns := func(dir, id string) {
		if err := os.MkdirAll(filepath.Join(proc, dir, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(id, filepath.Join(proc, dir, "ns", "mnt")); err != nil {
			t.Fatal(err)
		}
	}
	ns("self", "mnt:[1]")
	ns("100", "mnt:[2]")
	ns("200", "mnt:[3]")
	huge, err := os.Create(filepath.Join(proc, "100", "mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	if err := huge.Truncate(maxMountinfo + 1); err != nil { // sparse
		t.Fatal(err)
	}
	huge.Close()
	line := "36 35 0:52 /proc/meminfo /proc/meminfo rw,nosuid - fuse.procfsd procfsd rw\n"
	if err := os.WriteFile(filepath.Join(proc, "200", "mountinfo"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	nss, unreadable, err := scan(proc)
	if err != nil {
		t.Fatal(err)
	}
	if len(nss) != 1 || nss[0].pid != 200 || len(nss[0].mounts) != 1 {
		t.Errorf("namespaces %+v, want pid 200's with one mount", nss)
	}
	if len(unreadable) != 1 || unreadable[0].PID != 100 || unreadable[0].MountNS != "mnt:[2]" ||
		!strings.Contains(unreadable[0].Error, "larger than the read bound") {
		t.Errorf("unreadable %+v, want pid 100's namespace with a bound error", unreadable)
	}
	if _, err := readMountinfo(filepath.Join(proc, "100", "mountinfo")); !errors.Is(err, statedir.ErrTooLarge) {
		t.Errorf("readMountinfo of %d bytes: %v, want statedir.ErrTooLarge", maxMountinfo+1, err)
	}
}
