package control

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"procfsd/cgroupview"
	"procfsd/switches"
)

const hostProc = "../testdata/hosts/debian12-2cpu/proc"

// ctr1 is the container of the testdata/native/cgroup tree.
var ctr1 = &cgroupview.Container{ID: "/tke/ctr1", Paths: map[string]string{
	"memory": "/tke/ctr1", "cpuset": "/tke/ctr1", "cpuacct": "/tke/ctr1", "blkio": "/tke/ctr1", "cpu": "/tke/ctr1", "pids": "/tke/ctr1"}}

func newSwitchServer(t *testing.T, cgroupRoot, stateDir string, log *zap.Logger) *Server {
	t.Helper()
	return newForTest(t, switches.Config{ProcRoot: hostProc, CgroupRoot: cgroupRoot, StateDir: stateDir, StatsIsolated: true, Logger: log})
}

// newForTest serves the control socket of a Board over cfg, under cfg.StateDir.
func newForTest(t *testing.T, cfg switches.Config) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	cg, err := cgroupview.New(cfg.CgroupRoot, cfg.ProcRoot)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cgroups = cg
	board, err := switches.Open(cfg)
	if err != nil {
		t.Fatalf("switches.Open: %v", err)
	}
	return New(Config{StateDir: cfg.StateDir, Switches: board, Cgroups: cg, Logger: cfg.Logger})
}

// hostOn is the host switch stats_isolated of srv.
func hostOn(srv *Server) bool {
	on, _ := srv.switches.Host()
	return on
}
