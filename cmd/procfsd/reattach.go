package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"procfsd/reattach"
)

func init() {
	commands["reattach"] = command{"replace containers' dead procfsd mounts with live ones", runReattach}
}

const reattachUsage = `usage: procfsd reattach [flags]

Replace containers' dead procfsd mounts (ENOTCONN after a restart that lost the connection)
with bind mounts of the live mount at --mountpoint. Exits 1 when a dead mount stays dead.

example:
  procfsd reattach -o json
`

// runReattach is `procfsd reattach`: the last resort after a restart that lost the connection
// (package reattach). It exits 1 when a dead mount stays dead.
func runReattach(args []string, stderr io.Writer) error {
	var f clientFlags
	fl := newFlagSet("reattach", reattachUsage, stderr)
	f.register(fl.FlagSet, 2*time.Second, "a mount that is not procfsd's own to answer")
	output := fl.String("o", "text", "output format: text or json")
	noBeneath := fl.Bool("no-beneath", false, "detach each dead mount, then mount the live one, as on kernels before 6.5, even where mounting beneath it first is possible")
	if err := fl.parse(args); err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("%w: -o must be text or json, got %q", errUsage, *output)
	}
	r, err := reattach.Run(reattach.Options{Mountpoint: f.mountpoint, Timeout: f.timeout, NoBeneath: *noBeneath})
	if err != nil {
		return err
	}
	if *output == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else {
		printReattach(os.Stdout, r)
	}
	if len(r.Failed) > 0 {
		return fmt.Errorf("%d dead mounts could not be reattached", len(r.Failed))
	}
	return nil
}

func printReattach(w io.Writer, r *reattach.Report) {
	for _, m := range r.Fixed {
		fmt.Fprintf(w, "reattached %s (%s) in %s, pid %d (%s)\n", m.Target, m.File, m.MountNS, m.PID, m.Way)
	}
	for _, m := range r.Failed {
		fmt.Fprintf(w, "failed %s (%s) in %s, pid %d: %s\n", m.Target, m.File, m.MountNS, m.PID, m.Error)
	}
	for _, m := range r.Unanswered {
		fmt.Fprintf(w, "no answer from %s (%s) in %s, pid %d: alive but not served\n", m.Target, m.File, m.MountNS, m.PID)
	}
	fmt.Fprintf(w, "%d mount namespaces with procfsd mounts: %d live, %d reattached, %d failed, %d not answering\n",
		r.Namespaces, r.Live, len(r.Fixed), len(r.Failed), len(r.Unanswered))
}
