package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"procfsd/ctlapi"
)

func init() {
	commands["status"] = command{"report the daemon's mode (virtualized or native kernel) and host switch", runStatus}
}

func runStatus(args []string, stderr io.Writer) error {
	var f clientFlags
	fl := flag.NewFlagSet("status", flag.ContinueOnError)
	fl.SetOutput(stderr)
	f.register(fl)
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	if f.output != "table" && f.output != "json" {
		return fmt.Errorf("%w: -o must be table or json, got %q", errUsage, f.output)
	}
	resp, err := ctlapi.Call(f.stateDir, ctlapi.Request{Op: "status"}, f.timeout)
	if err != nil {
		return err
	}
	st := resp.Status
	if f.output == "json" {
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
