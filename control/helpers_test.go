package control

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"procfsd/cgroupview"
	"procfsd/metrics"
	"procfsd/switches"
)

const hostProc = "../testdata/hosts/debian12-2cpu/proc"

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
	return New(Config{StateDir: cfg.StateDir, Switches: board, Cgroups: cg, Metrics: metrics.New(metrics.SharedTree),
		Logger: cfg.Logger})
}

// hostOn is the host switch stats_isolated of srv.
func hostOn(srv *Server) bool {
	on, _ := srv.switches.Host()
	return on
}
