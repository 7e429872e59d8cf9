package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"procfsd/ctlapi"
	"procfsd/switches"
)

func init() {
	commands["ctl"] = command{"read and set the switches of a running daemon", runCtl}
	commands["native-helper"] = command{"(internal) set a native kernel switch from a container's cgroups",
		func(args []string, _ io.Writer) error { return switches.RunNativeHelper(args, os.Stdout) }}
}

const ctlUsage = `usage: procfsd ctl [flags] COMMAND

Read and set the switches of a running daemon. COMMAND is one of:
  get                              print the host switch stats_isolated
  set host 0|1                     set the host switch
  set container ID|CGROUP 0|1      set a container's switch, by runtime ID or cgroup path
  list                             every container seen, its switch, source and mode

example:
  procfsd ctl set container 4f1c2a9e3b7d 0
  procfsd ctl list -o json
`

func runCtl(args []string, stderr io.Writer) error {
	var f clientFlags
	fl := newFlagSet("ctl", ctlUsage, stderr)
	f.register(fl.FlagSet, 10*time.Second, "the daemon")
	output := fl.String("o", "table", "output format: table or json")
	pos, err := fl.parseInterleaved(args)
	if err != nil {
		return err
	}
	if *output != "table" && *output != "json" {
		return fmt.Errorf("%w: -o must be table or json, got %q", errUsage, *output)
	}
	req, err := ctlRequest(pos)
	if err != nil {
		return err
	}
	resp, err := ctlapi.Call(f.stateDir, req, f.timeout)
	if err != nil {
		return err
	}
	return printCtl(os.Stdout, req, resp, *output)
}

// ctlRequest turns the positional arguments into a request.
func ctlRequest(pos []string) (ctlapi.Request, error) {
	bad := func(format string, a ...any) (ctlapi.Request, error) {
		return ctlapi.Request{}, fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
	}
	if len(pos) == 0 {
		return bad("no command (get, set, list)")
	}
	switch {
	case pos[0] == "get" && (len(pos) == 1 || len(pos) == 2 && pos[1] == "host"):
		return ctlapi.Request{Op: "get-host"}, nil
	case pos[0] == "list" && len(pos) == 1:
		return ctlapi.Request{Op: "list"}, nil
	case pos[0] == "set" && len(pos) == 3 && pos[1] == "host":
		v, err := switchArg(pos[2])
		if err != nil {
			return bad("%v", err)
		}
		return ctlapi.Request{Op: "set-host", Value: &v}, nil
	case pos[0] == "set" && len(pos) == 4 && pos[1] == "container":
		v, err := switchArg(pos[3])
		if err != nil {
			return bad("%v", err)
		}
		return ctlapi.Request{Op: "set-container", Container: pos[2], Value: &v}, nil
	}
	return bad("bad command %q", strings.Join(pos, " "))
}

func switchArg(s string) (bool, error) {
	switch s {
	case "1":
		return true, nil
	case "0":
		return false, nil
	}
	return false, fmt.Errorf("switch value must be 0 or 1, got %q", s)
}

func printCtl(w io.Writer, req ctlapi.Request, resp *ctlapi.Response, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		switch req.Op {
		case "list":
			if resp.Containers == nil {
				resp.Containers = []switches.Entry{}
			}
			return enc.Encode(resp.Containers)
		case "set-container":
			return enc.Encode(resp.Entry)
		}
		return enc.Encode(resp.Status)
	}
	switch req.Op {
	case "list":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CONTAINER\tCGROUP\tSWITCH\tSOURCE\tMODE")
		for _, e := range resp.Containers {
			name := e.Name
			if name == "" {
				name = "-"
			} else if len(name) > 12 {
				name = name[:12]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, e.ID, bit(e.Isolated), e.Source, e.Mode)
		}
		return tw.Flush()
	case "set-container":
		_, err := fmt.Fprintf(w, "%s %s (%s)\n", resp.Entry.ID, bit(resp.Entry.Isolated), resp.Entry.Source)
		return err
	}
	_, err := fmt.Fprintln(w, bit(resp.Status.StatsIsolated))
	return err
}

func bit(on bool) string {
	if on {
		return "1"
	}
	return "0"
}
