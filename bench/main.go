// Command bench is procfsd's benchmark harness: it starts procfsd, LXCFS and a null
// FUSE server mounted like procfsd (the FUSE floor), reads their files from inside a real
// container cgroup and PID namespace next to the native /proc, and writes the figures of that
// one run, with their ratios, to BENCHMARKS.md. See `bench -h`.
//
// The same binary plays every part, chosen by its first argument: the harness (run, the
// default), the reader that measures inside a container (reader), the floor daemon (floor),
// and the cgroup joiner (join). The scale run's container init is a C program of its own,
// bench/scaleagent.
package main

import (
	"fmt"
	"os"
)

func main() {
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = runHarness(args)
	case "reader":
		err = runReader(args)
	case "floor":
		err = runFloor(args)
	case "join":
		err = runJoin(args)
	default:
		err = fmt.Errorf("unknown command %q (run, reader, floor, join)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
