package history

import (
	"time"

	"go.uber.org/zap"

	"procfsd/cgroupview"
)

// testConfig is the part of `procfsd serve`'s configuration the tests set.
type testConfig struct {
	ProcRoot, CgroupRoot, StateDir string
	LoadavgInterval                time.Duration
	Logger                         *zap.Logger
}

// newStore makes a store as the daemon does from cfg, with its defaults.
func newStore(cfg testConfig) (*Store, error) {
	cg, err := cgroupview.New(cfg.CgroupRoot, cfg.ProcRoot)
	if err != nil {
		return nil, err
	}
	if cfg.LoadavgInterval <= 0 {
		cfg.LoadavgInterval = 5 * time.Second
	}
	return New(Config{ProcRoot: cfg.ProcRoot, StateDir: cfg.StateDir, Interval: cfg.LoadavgInterval,
		Budget: DefaultLoadavgBudget, Cgroups: cg, Logger: cfg.Logger}), nil
}
