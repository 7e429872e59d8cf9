package main

import (
	"errors"
	"strings"
	"testing"

	"procfsd/ctlapi"
	"procfsd/history"
)

// TestServeLoadavgBudgetFlag: --loadavg-budget is a percentage of one CPU, 5 by default,
// above 0 and at most 100.
func TestServeLoadavgBudgetFlag(t *testing.T) {
	cfg, err := parseServe(t)
	if err != nil || cfg.LoadavgBudget != history.DefaultLoadavgBudget {
		t.Fatalf("default: LoadavgBudget %v, %v; want %v", cfg.LoadavgBudget, err, history.DefaultLoadavgBudget)
	}
	if cfg, err := parseServe(t, "--loadavg-budget", "20"); err != nil || cfg.LoadavgBudget != 0.2 {
		t.Errorf("--loadavg-budget 20: LoadavgBudget %v, %v; want 0.2", cfg.LoadavgBudget, err)
	}
	for _, bad := range []string{"0", "-1", "101", "NaN"} {
		if _, err := parseServe(t, "--loadavg-budget", bad); !errors.Is(err, errUsage) {
			t.Errorf("--loadavg-budget %s: %v, want a usage error", bad, err)
		}
	}
}

// TestStatusPrintsSampler: the status table names the containers sampled less often.
func TestStatusPrintsSampler(t *testing.T) {
	var b strings.Builder
	printSampler(&b, &ctlapi.SamplerStatus{BudgetPercent: 5, CostPercent: 4.26,
		SampledLess: []ctlapi.SampledLess{{Container: "/docker/abc", Every: 3, CountCostMS: 120}}})
	want := "load sampler:    4.3% of a CPU (budget 5%)\nsampled less:    1\n  /docker/abc every 3 intervals (120 ms a count)\n"
	if b.String() != want {
		t.Errorf("printed %q, want %q", b.String(), want)
	}
}
