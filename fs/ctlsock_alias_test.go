package fs

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCanonicalContainer(t *testing.T) {
	for _, tt := range []struct{ arg, want, err string }{
		{"/tke/ctr1", "/tke/ctr1", ""},
		{"/tke/ctr1/", "/tke/ctr1", ""},
		{"//tke//ctr1", "/tke/ctr1", ""},
		{"/tke/ctr1/.", "/tke/ctr1", ""},
		{"/tke/x/../ctr1", "/tke/ctr1", ""},
		{"/../tke/ctr1", "/tke/ctr1", ""},
		{"5e5e5e5e5e5e", "5e5e5e5e5e5e", ""},
		{"", "", "no container named"},
		{"/", "", "root cgroup"},
		{"//", "", "root cgroup"},
		{"/x/..", "", "root cgroup"},
	} {
		got, err := canonicalContainer(tt.arg)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: %q, %v; want an error with %q", tt.arg, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%q: %q, %v; want %q", tt.arg, got, err, tt.want)
		}
	}
}

// TestSetContainerByAlias: every spelling of a cgroup path sets the one entry keyed by the
// kernel's form of it, the one readers and the sweep use; the root cgroup is refused. The
// requests go through the socket's dispatch, past the peer check (which only root passes).
func TestSetContainerByAlias(t *testing.T) {
	srv := newSwitchServer(t, copyTree(t, "../testdata/native/cgroup"), filepath.Join(t.TempDir(), "state"), nil)
	for i, alias := range []string{"/tke/ctr1/", "//tke/ctr1", "/tke/ctr1/.", "/tke/x/../ctr1"} {
		on := i%2 == 1
		r := srv.handle(Request{Op: "set-container", Container: alias, Value: &on}, 0)
		if r.Error != "" || r.Entry == nil || r.Entry.ID != "/tke/ctr1" || r.Entry.Isolated != on {
			t.Fatalf("set-container %q %v: %q %+v, want /tke/ctr1", alias, on, r.Error, r.Entry)
		}
		for ctrl, p := range r.Entry.Cgroup {
			if p != "/tke/ctr1" {
				t.Errorf("set-container %q: %s path %q", alias, ctrl, p)
			}
		}
		list := srv.handle(Request{Op: "list"}, 0).Containers
		if len(list) != 1 || list[0].ID != "/tke/ctr1" || list[0].Isolated != on {
			t.Errorf("after set-container %q: list %+v", alias, list)
		}
	}
	off := false
	for _, root := range []string{"/", "//", "/tke/.."} {
		r := srv.handle(Request{Op: "set-container", Container: root, Value: &off}, 0)
		if !strings.Contains(r.Error, "root cgroup") {
			t.Errorf("set-container %q: %+v, want a root cgroup error", root, r)
		}
	}
}

// TestAliasEntryNotLoaded: an entry saved for an alias of a cgroup path (which never applied)
// is not brought back.
func TestAliasEntryNotLoaded(t *testing.T) {
	cg := copyTree(t, "../testdata/native/cgroup")
	state := t.TempDir()
	alias := map[string]string{}
	for ctrl := range ctr1.Paths {
		alias[ctrl] = "/tke/ctr1/"
	}
	st := &savedState{Version: stateVersion, StatsIsolated: true, Containers: []Entry{
		{ID: "/tke/ctr1/", Cgroup: alias, Isolated: false, Source: SourceCtl},
	}}
	if err := saveState(filepath.Join(state, stateFileName), st); err != nil {
		t.Fatal(err)
	}
	srv := newSwitchServer(t, cg, state, nil)
	if l := srv.switches.list(); len(l) != 0 {
		t.Errorf("loaded %+v", l)
	}
}
