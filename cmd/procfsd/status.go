package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"procfsd/ctlapi"
)

func init() {
	commands["status"] = command{"report the daemon's mode, host switch, containers and load sampler", runStatus}
}

const statusUsage = `usage: procfsd status [flags]

Report the running daemon's mode (virtualized or native kernel), host switch, containers and
load sampler.

example:
  procfsd status -o json
`

func runStatus(args []string, stderr io.Writer) error {
	var f clientFlags
	fl := newFlagSet("status", statusUsage, stderr)
	f.register(fl.FlagSet, 10*time.Second, "the daemon")
	output := fl.String("o", "table", "output format: table or json")
	if err := fl.parse(args); err != nil {
		return err
	}
	if *output != "table" && *output != "json" {
		return fmt.Errorf("%w: -o must be table or json, got %q", errUsage, *output)
	}
	resp, err := ctlapi.Call(f.stateDir, ctlapi.Request{Op: "status"}, f.timeout)
	if err != nil {
		return err
	}
	st := resp.Status
	if *output == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Printf("mode:            %s\nstats_isolated:  %s\nmountpoint:      %s\nstate dir:       %s\ncontainers:      %d\npid:             %d\n",
		st.Mode, bit(st.StatsIsolated), st.Mountpoint, st.StateDir, st.Containers, st.PID)
	if st.RequestTimeoutWarning != "" {
		fmt.Printf("warning:         %s\n", st.RequestTimeoutWarning)
	}
	printSampler(os.Stdout, st.LoadSampler)
	return nil
}

// printSampler prints the load sampler's lines of the status table: its CPU use against its
// budget, and the containers it samples less often to stay within it.
func printSampler(w io.Writer, ls *ctlapi.SamplerStatus) {
	if ls == nil {
		return
	}
	fmt.Fprintf(w, "load sampler:    %.1f%% of a CPU (budget %g%%)\n", ls.CostPercent, ls.BudgetPercent)
	fmt.Fprintf(w, "sampled less:    %d\n", len(ls.SampledLess))
	for _, d := range ls.SampledLess {
		fmt.Fprintf(w, "  %s every %d intervals (%.0f ms a count)\n", d.Container, d.Every, d.CountCostMS)
	}
}
