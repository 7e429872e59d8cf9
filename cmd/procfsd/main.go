// Command procfsd serves per-container /proc files over FUSE. See README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(args []string, stderr io.Writer) error
}

// commands holds every subcommand; each file registers its own in an init function, so adding
// a subcommand touches only its file.
var commands = map[string]command{
	"version": {"print the version and the VCS revision it was built from", runVersion},
}

// internalCommands are run by procfsd itself (the daemon runs native-helper to set a native
// kernel switch from a container's cgroups): they work but are left out of the help.
var internalCommands = map[string]bool{"native-helper": true}

const versionUsage = `usage: procfsd version

Print the version and the VCS revision (and whether the tree had local changes) it was built
from; procfsd --version does the same.

example:
  procfsd version
`

func runVersion(args []string, stderr io.Writer) error {
	if err := newFlagSet("version", versionUsage, stderr).parse(args); err != nil {
		return err
	}
	fmt.Println(versionString())
	return nil
}

// versionString is the version, then the VCS revision and whether the tree had local changes,
// which go build records in the binary when it builds inside a git checkout.
func versionString() string {
	s := "procfsd " + version
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return s
	}
	settings := map[string]string{}
	for _, kv := range info.Settings {
		settings[kv.Key] = kv.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		s += " (" + rev
		if settings["vcs.modified"] == "true" {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + info.GoVersion
}

// errUsage marks a bad command line: exit status 2 (docs/behaviour.md §1.1).
var errUsage = errors.New("usage")

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		usage(stderr)
		return 2
	case len(args) >= 2 && args[0] == "help":
		args = []string{args[1], "-h"} // procfsd help status
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help":
		usage(stderr)
		return 0
	case args[0] == "--version" || args[0] == "-version":
		args = []string{"version"}
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "procfsd: unknown command %q; see 'procfsd -h'\n", args[0])
		return 2
	}
	err := cmd.run(args[1:], stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		// The marker says how to exit; the line says what was wrong and where to look.
		msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
		fmt.Fprintf(stderr, "procfsd %s: %s; see 'procfsd %s -h'\n", args[0], msg, args[0])
		return 2
	default:
		fmt.Fprintf(stderr, "procfsd %s: %v\n", args[0], err)
		return 1
	}
}

// usage is the top-level help: the public commands, one line each.
func usage(w io.Writer) {
	fmt.Fprint(w, "usage: procfsd <command> [flags]\n\n"+
		"procfsd serves per-container /proc files over FUSE, in place of LXCFS.\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for name := range commands {
		if !internalCommands[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprint(w, "\nRun 'procfsd <command> -h' for a command's synopsis, example and flags;\n"+
		"'procfsd --version' prints the version.\n")
}
