package switches

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"
)

// Kernel drives a kernel that virtualizes /proc itself: TencentOS Server 2.4's
// kernel.stats_isolated and kernel.container_stats_isolated (docs/behaviour.md §3,
// TencentOS-kernel's kernel/sysctl.c). Behind an interface so the server is tested with fakes.
type Kernel interface {
	// HostIsolated reads kernel.stats_isolated.
	HostIsolated() (bool, error)
	// SetHost writes kernel.stats_isolated.
	SetHost(on bool) error
	// SetContainer sets the switch of the container whose cgroups are paths (v1 controller →
	// path). The kernel scopes a write to the writer's cgroups, so a helper joins them first.
	SetContainer(paths map[string]string, on bool) error
}

// Sysctl paths under --proc-root.
const (
	sysctlHost      = "sys/kernel/stats_isolated"
	sysctlContainer = "sys/kernel/container_stats_isolated"
)

// nativeControllers are the v1 controllers whose cgroups carry the kernel's per-cgroup flag
// (proc_stats_isolated() in kernel/sysctl.c of the 4.14 tree: memcg, cpuset, cpuacct, blkcg).
var nativeControllers = []string{"memory", "cpuset", "cpuacct", "blkio"}

// DetectNative reports whether the kernel under procRoot has both sysctls. Features are probed,
// not versions: uname does not name tlinux reliably. TK4 (5.4) has
// kernel.container_cpuquota_aware but not these, so it is not native.
func DetectNative(procRoot string) bool {
	for _, p := range []string{sysctlHost, sysctlContainer} {
		fi, err := os.Stat(filepath.Join(procRoot, p))
		if err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// TKernel is the Kernel of a TencentOS 2.4 host.
type TKernel struct {
	ProcRoot   string
	CgroupRoot string
	// Helper is the command that runs the native helper (RunNativeHelper), such as
	// {"/usr/bin/procfsd", "native-helper"}. Go cannot move one of its own threads into a
	// cgroup safely, so a short-lived process joins the container's cgroups instead.
	Helper []string
}

func (k *TKernel) HostIsolated() (bool, error) {
	p := filepath.Join(k.ProcRoot, sysctlHost)
	b, err := os.ReadFile(p)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", p, err)
	}
	// proc_dointvec: any non-zero integer is on.
	v := string(bytes.TrimSpace(b))
	return v != "0" && v != "", nil
}

func (k *TKernel) SetHost(on bool) error {
	p := filepath.Join(k.ProcRoot, sysctlHost)
	if err := writeSysctl(p, on); err != nil {
		return err
	}
	return nil
}

func (k *TKernel) SetContainer(paths map[string]string, on bool) error {
	args := append([]string{}, k.Helper[1:]...)
	args = append(args, "--cgroup-root", k.CgroupRoot,
		"--sysctl", filepath.Join(k.ProcRoot, sysctlContainer), "--value", Value(on))
	args = append(args, helperCgroupArgs(paths)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, k.Helper[0], args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("run native helper: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// helperCgroupArgs turns paths into the helper's "controller=path" arguments, in a fixed
// order, for the controllers the kernel flag lives in.
func helperCgroupArgs(paths map[string]string) []string {
	var out []string
	for _, ctrl := range nativeControllers {
		if p, ok := paths[ctrl]; ok {
			out = append(out, ctrl+"="+p)
		}
	}
	sort.Strings(out)
	return out
}

// Value is a switch as its file and the sysctl spell it.
func Value(on bool) string {
	if on {
		return "1"
	}
	return "0"
}

func writeSysctl(path string, on bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(Value(on) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
