//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runcFiles are the /proc files runc accepts as bind-mount destinations (it refuses /proc/vmstat;
// procfsd's own OCI hook mounts that one).
var runcFiles = []string{"proc/cpuinfo", "proc/diskstats", "proc/meminfo", "proc/stat", "proc/swaps", "proc/uptime", "proc/loadavg"}

// runtimeContainer is a container run by a real runtime CLI (podman or docker) with the daemon's
// files bind-mounted read-only, as the README tells users to do.
type runtimeContainer struct {
	cli    []string // the CLI and its global flags
	name   string
	t0, t1 time.Time
}

// bindArgs are the -v flags of the README recipe for mount d.
func bindArgs(d *daemon) []string {
	var args []string
	for _, rel := range append(append([]string{}, runcFiles...), onlineFile) {
		args = append(args, "-v", d.path(rel)+":/"+rel+":ro")
	}
	return args
}

// startRuntimeContainer runs `CLI run -d` with the limits and the bind mounts, image (or
// --rootfs DIR for podman) and sleep as init, and removes the container at cleanup.
func startRuntimeContainer(t *testing.T, d *daemon, cli []string, l limits, image ...string) *runtimeContainer {
	t.Helper()
	c := &runtimeContainer{cli: cli, name: randomName("procfsd-e2e-")}
	args := append(append([]string{}, cli...), "run", "-d", "--name", c.name, "--net=none", "--read-only",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
	if l.memory > 0 {
		args = append(args, "--memory", strconv.FormatInt(l.memory, 10))
	}
	if l.quota > 0 {
		args = append(args, "--cpus", strconv.FormatFloat(l.quota, 'f', -1, 64))
	}
	if l.cpus != "" {
		args = append(args, "--cpuset-cpus", l.cpus)
	}
	args = append(append(append(args, bindArgs(d)...), image...), "sleep", "100000")
	c.t0 = time.Now()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	c.t1 = time.Now()
	t.Cleanup(func() {
		rm := append(append([]string{}, cli[1:]...), "rm", "-f", c.name)
		if cli[0] == "podman" {
			rm = append(rm, "-t", "0") // podman waits 10s for a clean stop otherwise
		}
		if out, err := exec.Command(cli[0], rm...).CombinedOutput(); err != nil {
			t.Errorf("%s rm -f %s: %v: %s", cli[0], c.name, err, out)
		}
	})
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("%s: started %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	return c
}

func (c *runtimeContainer) String() string { return c.cli[0] + ":" + c.name }

func (c *runtimeContainer) command(args ...string) *exec.Cmd {
	full := append(append([]string{}, c.cli...), "exec")
	for _, e := range commandEnv {
		full = append(full, "-e", e)
	}
	full = append(append(full, c.name), args...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func (c *runtimeContainer) startCommand(cmd *exec.Cmd) error { return cmd.Start() }

func (c *runtimeContainer) started() (time.Time, time.Time) { return c.t0, c.t1 }

// runtimeView is expectView for a runtime container: podman and Docker set a memory+swap limit of
// twice --memory, so the swap the container may use is --memory (docs/behaviour.md §2.2: memsw −
// mem, at most the host's swap).
func runtimeView(t testing.TB, h hostFacts, l limits) view {
	t.Helper()
	v := expectView(t, h, l)
	if l.memory > 0 {
		v.swapTotal = min(h.swapTotal, uint64(l.memory))
	}
	return v
}

// runtimeUsage is the container's own CPU time file as runc mounts the container's cgroup.
func runtimeUsage(v2 bool) string {
	if v2 {
		return "/sys/fs/cgroup/cpu.stat"
	}
	return "/sys/fs/cgroup/cpuacct/cpuacct.usage"
}

func rootfs(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PROCFSD_E2E_ROOTFS")
	if dir == "" {
		dir = "../build/rootfs"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"usr/bin/free", "usr/bin/top", "usr/bin/vmstat", "usr/bin/uptime", "usr/bin/node", "usr/bin/python3"} {
		if _, err := os.Stat(filepath.Join(abs, p)); err != nil {
			t.Fatalf("rootfs %s lacks %s (build it with `make rootfs`): %v", abs, p, err)
		}
	}
	return abs
}

// podmanCLI is podman as it works here and in CI: cgroupfs manager, runc (crun fails on rlimits).
var podmanCLI = []string{"podman", "--cgroup-manager=cgroupfs", "--runtime", "runc"}

// TestPodman repeats the real-program checks in podman containers (runc) with the README's bind
// mounts: A with 256 MiB, one CPU and 0.5 CPU, B with 1 GiB and two CPUs.
func TestPodman(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman: %v (make deps installs it)", err)
	}
	h := readHost(t)
	fs := rootfs(t)
	d := startDaemon(t, daemonOptions{})
	la := limits{memory: 256 << 20, cpus: strconv.Itoa(h.cpus - 1), quota: 0.5}
	lb := limits{memory: 1 << 30, cpus: "0-1"}
	a := startRuntimeContainer(t, d, podmanCLI, la, "--rootfs", fs)
	b := startRuntimeContainer(t, d, podmanCLI, lb, "--rootfs", fs)
	checkRuntimeContainers(t, d, h, a, b, la, lb)
}

// checkRuntimeContainers runs the core assertions on containers A and B of a real runtime
// (podman, Docker), made with limits la and lb: real programs in each, the CPU burner in A,
// and A, B and the host reading at the same time.
func checkRuntimeContainers(t *testing.T, d *daemon, h hostFacts, a, b container, la, lb limits) {
	wantA, wantB := runtimeView(t, h, la), runtimeView(t, h, lb)
	v2 := cgroupV2(t)
	t.Run("A", func(t *testing.T) { checkPrograms(t, a, wantA, h) })
	t.Run("B", func(t *testing.T) { checkPrograms(t, b, wantB, h) })
	t.Run("A/burn", func(t *testing.T) { checkBurn(t, a, wantA, runtimeUsage(v2), v2) })
	t.Run("concurrent", func(t *testing.T) {
		checkConcurrent(t, d, h, map[container]view{a: wantA, b: wantB})
	})
	d.alive(t)
}
