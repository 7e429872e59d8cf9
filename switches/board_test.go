package switches

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"procfsd/cgroupview"
	"procfsd/internal/fixture"
)

const hostProc = "../testdata/hosts/debian12-2cpu/proc"

func newSwitchServer(t *testing.T, cgroupRoot, stateDir string, log *zap.Logger) *Board {
	t.Helper()
	if log == nil {
		log = zaptest.NewLogger(t)
	}
	return openForTest(t, Config{ProcRoot: hostProc, CgroupRoot: cgroupRoot, StateDir: stateDir, StatsIsolated: true, Logger: log})
}

// openForTest opens the board of cfg over a cgroup reader of its roots.
func openForTest(t *testing.T, cfg Config) *Board {
	t.Helper()
	cg, err := cgroupview.New(cfg.CgroupRoot, cfg.ProcRoot)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cgroups = cg
	b, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return b
}

// TestStateSurvivesRestart: the host switch and a container's switch set by one server are
// what the next server on the same --state-dir starts with, over --stats-isolated; the
// container's entry goes when its cgroup does (docs/behaviour.md §3).
func TestStateSurvivesRestart(t *testing.T) {
	cg := fixture.CopyTree(t, "../testdata/native/cgroup")
	state := filepath.Join(t.TempDir(), "state")
	s1 := newSwitchServer(t, cg, state, nil)
	if err := s1.SetHost(false, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.SetContainer(fixture.Ctr1, false, SourceCtl); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir: %v, mode %v; want 0700", err, fi.Mode())
	}

	s2 := newSwitchServer(t, cg, state, nil)
	if s2.hostIsolated.Load() {
		t.Errorf("host switch after restart = 1, want the persisted 0")
	}
	e := s2.table.get(fixture.Ctr1.ID)
	if e == nil || e.Isolated || e.Source != SourceCtl {
		t.Fatalf("container after restart: %+v, want switch 0 from ctl", e)
	}

	if err := os.RemoveAll(filepath.Join(cg, "memory/tke/ctr1")); err != nil {
		t.Fatal(err)
	}
	s2.sweep()
	if e := s2.table.get(fixture.Ctr1.ID); e != nil {
		t.Errorf("entry of a gone cgroup kept: %+v", e)
	}
	st, err := loadState(filepath.Join(state, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Containers) != 0 || st.StatsIsolated {
		t.Errorf("state file after the sweep: %+v", st)
	}
	left, _ := filepath.Glob(filepath.Join(state, "*.tmp*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestStateOfGoneContainerNotLoaded: a container whose cgroup went while procfsd was stopped
// is not brought back.
func TestStateOfGoneContainerNotLoaded(t *testing.T) {
	cg := fixture.CopyTree(t, "../testdata/native/cgroup")
	state := t.TempDir()
	st := &savedState{Version: stateVersion, StatsIsolated: true, Containers: []Entry{
		{ID: "/tke/ctr1", Cgroup: fixture.Ctr1.Paths, Isolated: false, Source: SourceWrite},
		{ID: "/tke/gone", Cgroup: map[string]string{"memory": "/tke/gone"}, Isolated: false, Source: SourceCtl},
	}}
	if err := saveState(filepath.Join(state, stateFileName), st); err != nil {
		t.Fatal(err)
	}
	srv := newSwitchServer(t, cg, state, nil)
	if e := srv.table.get("/tke/ctr1"); e == nil || e.Isolated || e.Source != SourceWrite {
		t.Errorf("/tke/ctr1: %+v, want switch 0 from write", e)
	}
	if e := srv.table.get("/tke/gone"); e != nil {
		t.Errorf("/tke/gone loaded: %+v", e)
	}
}

// TestCorruptStateMovedAside: a state file that cannot be used is logged, moved aside, and the
// daemon starts with the defaults.
func TestCorruptStateMovedAside(t *testing.T) {
	for _, tt := range []struct {
		name  string
		write func(path string) error
	}{
		{"not JSON", func(p string) error { return os.WriteFile(p, []byte("{\"version\":1,"), 0o600) }},
		{"future version", func(p string) error { return os.WriteFile(p, []byte(`{"version":7}`), 0o600) }},
		{"bad entry", func(p string) error {
			return os.WriteFile(p, []byte(`{"version":1,"containers":[{"id":"x","source":"ctl"}]}`), 0o600)
		}},
		{"unreadable (a directory)", func(p string) error { return os.Mkdir(p, 0o700) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			path := filepath.Join(state, stateFileName)
			if err := tt.write(path); err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zapcore.InfoLevel)
			srv := newSwitchServer(t, "../testdata/native/cgroup", state, zap.New(core))
			if !srv.hostIsolated.Load() || len(srv.table.list()) != 0 {
				t.Errorf("defaults not used: host %v, %d entries", srv.hostIsolated.Load(), len(srv.table.list()))
			}
			if _, err := os.Lstat(path); !os.IsNotExist(err) {
				t.Errorf("%s still there: %v", path, err)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Errorf("moved-aside files: %v, want one", aside)
			}
			found := logs.FilterMessageSnippet("moved aside").FilterField(zap.String("file", path)).All()
			if len(found) != 1 || found[0].Level != zapcore.ErrorLevel {
				t.Errorf("log lines about the state file: %v, want one error", found)
			}
			// The next save works and makes a good file again.
			if err := srv.SetHost(false, "test"); err != nil {
				t.Fatal(err)
			}
			if st, err := loadState(path); err != nil || st == nil || st.StatsIsolated {
				t.Errorf("state after a save: %+v, %v", st, err)
			}
		})
	}
}

func TestFindEntries(t *testing.T) {
	var sw table
	id := "cad8a630e4284d239bbd52d8607003ea684cbec6b197d4366d267015aecd026d"
	sw.add(&Entry{ID: "/libpod_parent/libpod-" + id, Name: id, Isolated: true, Source: SourceDefault})
	sw.add(&Entry{ID: "/docker/" + strings.Repeat("ab", 32), Isolated: true, Source: SourceDefault})
	sw.add(&Entry{ID: "/procfsd-e2e-1", Isolated: true, Source: SourceDefault})
	for _, tt := range []struct {
		arg  string
		want []string
	}{
		{id, []string{"/libpod_parent/libpod-" + id}},
		{id[:12], []string{"/libpod_parent/libpod-" + id}},
		{id[:11], nil},
		{strings.Repeat("ab", 32), []string{"/docker/" + strings.Repeat("ab", 32)}},
		{strings.Repeat("ab", 6), []string{"/docker/" + strings.Repeat("ab", 32)}},
		{"/procfsd-e2e-1", []string{"/procfsd-e2e-1"}},
		{"/procfsd-e2e", nil},
		{"procfsd-e2e-1", nil},
	} {
		var got []string
		for _, e := range sw.find(tt.arg) {
			got = append(got, e.ID)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("find(%q) = %v, want %v", tt.arg, got, tt.want)
		}
	}
}
