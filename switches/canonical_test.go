package switches

import (
	"path/filepath"
	"strings"
	"testing"

	"procfsd/internal/fixture"
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
		got, err := Canonical(tt.arg)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: %q, %v; want an error with %q", tt.arg, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%q: %q, %v; want %q", tt.arg, got, err, tt.want)
		}
	}
}

// TestAliasEntryNotLoaded: an entry saved for an alias of a cgroup path (which never applied)
// is not brought back.
func TestAliasEntryNotLoaded(t *testing.T) {
	cg := fixture.CopyTree(t, "../testdata/native/cgroup")
	state := t.TempDir()
	alias := map[string]string{}
	for ctrl := range fixture.Ctr1.Paths {
		alias[ctrl] = "/tke/ctr1/"
	}
	st := &savedState{Version: stateVersion, StatsIsolated: true, Containers: []Entry{
		{ID: "/tke/ctr1/", Cgroup: alias, Isolated: false, Source: SourceCtl},
	}}
	if err := saveState(filepath.Join(state, stateFileName), st); err != nil {
		t.Fatal(err)
	}
	srv := newSwitchServer(t, cg, state, nil)
	if l := srv.table.list(); len(l) != 0 {
		t.Errorf("loaded %+v", l)
	}
}
