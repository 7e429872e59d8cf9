package switches

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"procfsd/cgroupview"
)

// RunNativeHelper is the short-lived process of docs/behaviour.md §3's native mode:
//
//	native-helper --cgroup-root R --sysctl FILE --value 0|1 memory=/p cpuset=/p ...
//
// It moves itself into each named v1 cgroup (writing "0" to cgroup.procs moves the writer,
// cgroup_procs_write() in kernel/cgroup/cgroup-v1.c), checks in /proc/self/cgroup that it is
// there, and writes the value to the sysctl, which the kernel applies to the writer's cgroups
// (proc_stats_isolated() in TencentOS-kernel). It prints the cgroups it wrote from.
func RunNativeHelper(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("native-helper", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	root := fl.String("cgroup-root", "/sys/fs/cgroup", "")
	sysctl := fl.String("sysctl", "/proc/"+sysctlContainer, "")
	value := fl.String("value", "0", "")
	if err := fl.Parse(args); err != nil {
		return fmt.Errorf("parse helper arguments: %w", err)
	}
	on, err := ParseSwitch([]byte(*value))
	if err != nil {
		return err
	}
	want := map[string]string{}
	for _, a := range fl.Args() {
		ctrl, p, ok := strings.Cut(a, "=")
		if !ok || ctrl == "" || !strings.HasPrefix(p, "/") || strings.Contains(p, "/../") {
			return fmt.Errorf("parse helper argument %q: want controller=/path", a)
		}
		want[ctrl] = filepath.Clean(p)
	}
	if len(want) == 0 {
		return fmt.Errorf("parse helper arguments: no cgroup named")
	}
	for _, ctrl := range nativeControllers {
		p, ok := want[ctrl]
		if !ok {
			continue
		}
		procs := filepath.Join(*root, ctrl, p, "cgroup.procs")
		if err := os.WriteFile(procs, []byte("0"), 0); err != nil {
			return fmt.Errorf("join %s cgroup %s: %w", ctrl, p, err)
		}
	}
	got, err := cgroupview.ProcessCgroups("/proc", os.Getpid())
	if err != nil {
		return err
	}
	for ctrl, p := range want {
		if got[ctrl] != p {
			return fmt.Errorf("join %s cgroup %s: still in %q", ctrl, p, got[ctrl])
		}
	}
	if err := writeSysctl(*sysctl, on); err != nil {
		return err
	}
	for _, ctrl := range nativeControllers {
		if p, ok := want[ctrl]; ok {
			fmt.Fprintf(stdout, "%s:%s\n", ctrl, p)
		}
	}
	return nil
}
