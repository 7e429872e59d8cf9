package control

import (
	"path/filepath"
	"strings"
	"testing"

	"procfsd/ctlapi"
	"procfsd/internal/fixture"
)

// TestSetContainerByAlias: every spelling of a cgroup path sets the one entry keyed by the
// kernel's form of it, the one readers and the sweep use; the root cgroup is refused. The
// requests go through the socket's dispatch, past the peer check (which only root passes).
func TestSetContainerByAlias(t *testing.T) {
	srv := newSwitchServer(t, fixture.CopyTree(t, "../testdata/native/cgroup"), filepath.Join(t.TempDir(), "state"), nil)
	for i, alias := range []string{"/tke/ctr1/", "//tke/ctr1", "/tke/ctr1/.", "/tke/x/../ctr1"} {
		on := i%2 == 1
		r := srv.handle(ctlapi.Request{Op: "set-container", Container: alias, Value: &on}, 0)
		if r.Error != "" || r.Entry == nil || r.Entry.ID != "/tke/ctr1" || r.Entry.Isolated != on {
			t.Fatalf("set-container %q %v: %q %+v, want /tke/ctr1", alias, on, r.Error, r.Entry)
		}
		for ctrl, p := range r.Entry.Cgroup {
			if p != "/tke/ctr1" {
				t.Errorf("set-container %q: %s path %q", alias, ctrl, p)
			}
		}
		list := srv.handle(ctlapi.Request{Op: "list"}, 0).Containers
		if len(list) != 1 || list[0].ID != "/tke/ctr1" || list[0].Isolated != on {
			t.Errorf("after set-container %q: list %+v", alias, list)
		}
	}
	off := false
	for _, root := range []string{"/", "//", "/tke/.."} {
		r := srv.handle(ctlapi.Request{Op: "set-container", Container: root, Value: &off}, 0)
		if !strings.Contains(r.Error, "root cgroup") {
			t.Errorf("set-container %q: %+v, want a root cgroup error", root, r)
		}
	}
}
