package main

import (
	"flag"
	"os"

	"procfsd/fs"
)

// switchFlags are serve's flags for the switches (docs/behaviour.md §3), registered from here so
// serve.go stays small.
type switchFlags struct {
	dockerRoot string
}

func registerSwitchFlags(fl *flag.FlagSet) *switchFlags {
	f := &switchFlags{}
	fl.StringVar(&f.dockerRoot, "docker-root", "/var/lib/docker", "Docker's data root, where containers' procfsd.io/container-stats-isolated labels are read")
	return f
}

// apply puts the flags into the server configuration, with the native helper being this
// very binary (switches.RunNativeHelper behind the native-helper subcommand).
func (f *switchFlags) apply(cfg *fs.Config) {
	cfg.DockerRoot = f.dockerRoot
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cfg.NativeHelper = []string{exe, "native-helper"}
}
