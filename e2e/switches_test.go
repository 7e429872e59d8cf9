//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const optOutKey = "procfsd.io/container-stats-isolated"

// hookedContainer is a podman container whose /proc files come from procfsd's OCI hook, not
// from -v flags.
type hookedContainer struct {
	*runtimeContainer
	id string // podman's container ID
}

// startHookedContainer runs a podman container (runc) with --hooks-dir, the limits and the
// annotations, and removes it at cleanup.
func startHookedContainer(t *testing.T, hooks, rootfs string, l limits, annotations map[string]string) *hookedContainer {
	t.Helper()
	c := &hookedContainer{runtimeContainer: &runtimeContainer{cli: podmanCLI, name: randomName("procfsd-e2e-hk-")}}
	args := append(append([]string{}, podmanCLI...), "--hooks-dir", hooks, "run", "-d", "--name", c.name,
		"--net=none", "--read-only", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
	if l.memory > 0 {
		args = append(args, "--memory", strconv.FormatInt(l.memory, 10))
	}
	for k, v := range annotations {
		args = append(args, "--annotation", k+"="+v)
	}
	args = append(args, "--rootfs", rootfs, "sleep", "100000")
	c.t0 = time.Now()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	c.t1 = time.Now()
	t.Cleanup(func() {
		rm := append(append([]string{}, podmanCLI[1:]...), "rm", "-f", "-t", "0", c.name)
		if out, err := exec.Command("podman", rm...).CombinedOutput(); err != nil {
			t.Errorf("podman rm -f %s: %v: %s", c.name, err, out)
		}
	})
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	lines := strings.Fields(string(out))
	c.id = lines[len(lines)-1]
	t.Logf("%s: started %s", strings.Join(args, " "), c.id)
	return c
}

// containerProcfsdMounts returns the container's mount points served by procfsd.
func containerProcfsdMounts(t *testing.T, c container) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(mustRun(t, c, "cat", "/proc/self/mountinfo"), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		if ok && strings.HasPrefix(post, "fuse.procfsd ") {
			out = append(out, strings.Fields(pre)[4])
		}
	}
	return out
}

// writeAs writes value to file in c as uid ("" for the container's root) with dd, whose error
// message names errno.
func writeAs(c *hookedContainer, uid, file, value string) (string, error) {
	args := append([]string{}, c.cli...)
	args = append(args, "exec")
	if uid != "" {
		args = append(args, "--user", uid)
	}
	args = append(args, c.name, "sh", "-c", fmt.Sprintf("printf %s | dd of=%s conv=notrunc status=none", value, file))
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

// memberRead reads file as a process placed in the given v1 cgroups (the container's), in the
// host's namespaces: procfsd keys it to the same container as the container's own processes.
// It works when the container's own bind mounts are gone with the daemon that served them.
func memberRead(t *testing.T, paths map[string]string, file string) string {
	t.Helper()
	cmd := gated("cat", file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer killGroup(cmd)
	for ctrl, p := range paths {
		dir := filepath.Join(cgroupMount, ctrl)
		if ctrl == "" && !cgroupV2(t) {
			dir = filepath.Join(cgroupMount, "unified")
		}
		procs := filepath.Join(dir, p, "cgroup.procs")
		if err := os.WriteFile(procs, []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			t.Fatalf("join %s: %v", procs, err)
		}
	}
	w.Write([]byte("go\n"))
	w.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cat %s in %v: %v: %s", file, paths, err, stderr.String())
	}
	return stdout.String()
}

func memTotalOf(t *testing.T, meminfo string) uint64 {
	t.Helper()
	for _, l := range strings.Split(meminfo, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatalf("no MemTotal in %q", meminfo)
	return 0
}

// TestPodmanHookSwitches runs podman + runc with the shipped hooks.d entry: a container without
// the annotation sees its limits (vmstat included), one with it sees the host, an in-container
// write by root flips only that container, a non-root write is EPERM, `ctl set host` flips
// everyone, and every value survives a daemon restart (docs/behaviour.md §3).
func TestPodmanHookSwitches(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman: %v (make deps installs it)", err)
	}
	h := readHost(t)
	fs := rootfs(t)
	mnt, state := switchDirs(t)
	d := startCtlDaemon(t, mnt, state)
	hooks := hooksDir(t, mnt, state)
	la, lb, lc := limits{memory: 256 << 20}, limits{memory: 512 << 20}, limits{memory: 1 << 30}
	a := startHookedContainer(t, hooks, fs, la, nil)
	b := startHookedContainer(t, hooks, fs, lb, map[string]string{optOutKey: "0"})
	c := startHookedContainer(t, hooks, fs, lc, nil)
	memA, memC := expectView(t, h, la).memTotal, expectView(t, h, lc).memTotal
	ctlFile := "/run/procfsd/container_stats_isolated"
	hostFile := filepath.Join(mnt, "proc/sys/kernel/stats_isolated")

	var idA, idB, idC string
	t.Run("hook", func(t *testing.T) {
		mounts := strings.Join(containerProcfsdMounts(t, a), " ")
		for _, want := range []string{"/proc/meminfo", "/proc/vmstat", "/proc/cpuinfo", "/proc/stat", "/proc/uptime",
			"/proc/loadavg", "/proc/swaps", "/proc/diskstats", "/sys/devices/system/cpu/online", "/run/procfsd"} {
			if !strings.Contains(" "+mounts+" ", " "+want+" ") {
				t.Errorf("%s: %s is not mounted from procfsd (mounts: %s)", a, want, mounts)
			}
		}
		if m := containerProcfsdMounts(t, b); len(m) != 0 {
			t.Errorf("%s opted out but has procfsd mounts %v", b, m)
		}
		pollMemTotal(t, a, memA)
		pollMemTotal(t, c, memC)
		pollMemTotal(t, b, h.memTotal)
		// vmstat, which runc refuses as a spec mount, is the container's: free pages within the limit.
		vm := mustRun(t, a, "grep", "^nr_free_pages ", "/proc/vmstat")
		if f := strings.Fields(vm); len(f) != 2 || mustUint(t, f[1])*uint64(os.Getpagesize()) > memA {
			t.Errorf("%s: vmstat %q above the %d-byte limit", a, vm, memA)
		}
		rows := d.list(t)
		for _, want := range []struct {
			c        *hookedContainer
			isolated bool
			source   string
			mode     string
			id       *string
		}{
			{a, true, "default", "virtualized", &idA},
			{b, false, "annotation", "host passthrough", &idB},
			{c, true, "default", "virtualized", &idC},
		} {
			var found *ctlEntry
			for _, r := range rows {
				if r.Name == want.c.id {
					found = &r
				}
			}
			if found == nil {
				t.Fatalf("ctl list has no %s (%s): %+v", want.c, want.c.id, rows)
			}
			*want.id = found.ID
			if found.Isolated != want.isolated || found.Source != want.source || found.Mode != want.mode ||
				!strings.Contains(found.ID, want.c.id) {
				t.Errorf("ctl list %s: %+v, want switch %v from %s, %s", want.c, *found, want.isolated, want.source, want.mode)
			}
		}
	})

	t.Run("in-container write", func(t *testing.T) {
		if out, err := writeAs(a, "", ctlFile, "0"); err != nil {
			t.Fatalf("root in %s writes 0: %v: %s", a, err, out)
		}
		pollMemTotal(t, a, h.memTotal)
		pollMemTotal(t, c, memC)
		if got := mustRun(t, a, "cat", ctlFile); got != "0\n" {
			t.Errorf("%s reads its switch %q after writing 0", a, got)
		}
		if got := mustRun(t, c, "cat", ctlFile); got != "1\n" {
			t.Errorf("sibling %s reads its switch %q", c, got)
		}
		if got := string(readFile(t, hostFile)); got != "1\n" {
			t.Errorf("host switch %q after a container's write", got)
		}
		if e := d.list(t)[idA]; e.Source != "write" || e.Isolated {
			t.Errorf("ctl list after the write: %+v", e)
		}
	})

	t.Run("non-root write", func(t *testing.T) {
		for _, target := range []*hookedContainer{a, c} {
			out, err := writeAs(target, "1000", ctlFile, "1")
			if err == nil || !strings.Contains(out, "Operation not permitted") {
				t.Errorf("uid 1000 in %s writes 1: %v: %q, want EPERM", target, err, out)
			}
		}
		out, err := writeAs(a, "", "/run/procfsd/stats_isolated", "0")
		if err == nil || !strings.Contains(out, "Operation not permitted") {
			t.Errorf("root in %s writes the host switch: %v: %q, want EPERM", a, err, out)
		}
		pollMemTotal(t, a, h.memTotal)
		pollMemTotal(t, c, memC)
		if got := string(readFile(t, hostFile)); got != "1\n" {
			t.Errorf("host switch %q after refused writes", got)
		}
	})

	t.Run("ctl host switch", func(t *testing.T) {
		d.mustCtl(t, "ctl", "set", "host", "0")
		pollMemTotal(t, c, h.memTotal)
		if got := string(readFile(t, hostFile)); got != "0\n" {
			t.Errorf("host switch file %q after ctl set host 0", got)
		}
		if got := strings.TrimSpace(d.mustCtl(t, "ctl", "get")); got != "0" {
			t.Errorf("ctl get = %q", got)
		}
		d.mustCtl(t, "ctl", "set", "host", "1")
		pollMemTotal(t, c, memC)
		pollMemTotal(t, a, h.memTotal)
	})

	t.Run("ctl container switch", func(t *testing.T) {
		d.mustCtl(t, "ctl", "set", "container", c.id[:12], "0")
		pollMemTotal(t, c, h.memTotal)
		d.mustCtl(t, "ctl", "set", "container", idC, "1")
		pollMemTotal(t, c, memC)
		if e := d.list(t)[idC]; e.Source != "ctl" || !e.Isolated {
			t.Errorf("ctl list after ctl set: %+v", e)
		}
		if _, errOut, code := d.ctl(t, "ctl", "set", "container", "/no/such/cgroup", "0"); code != 1 || errOut == "" {
			t.Errorf("ctl set of an unknown container: exit %d, %q", code, errOut)
		}
	})

	t.Run("restart", func(t *testing.T) {
		d.mustCtl(t, "ctl", "set", "host", "0")
		before := d.list(t)
		d.shutdown(t)
		d2 := startCtlDaemon(t, mnt, state)
		if got := strings.TrimSpace(d2.mustCtl(t, "ctl", "get")); got != "0" {
			t.Errorf("host switch after restart = %q, want 0", got)
		}
		after := d2.list(t)
		for _, id := range []string{idA, idB, idC} {
			b, a := before[id], after[id]
			if a.ID != id || a.Isolated != b.Isolated || a.Source != b.Source || a.Name != b.Name {
				t.Errorf("%s after restart: %+v, before: %+v", id, a, b)
			}
		}
		d2.mustCtl(t, "ctl", "set", "host", "1")
		meminfo := filepath.Join(mnt, "proc/meminfo")
		if got := memTotalOf(t, memberRead(t, after[idA].Cgroup, meminfo)); got != h.memTotal {
			t.Errorf("A (switch 0 by write) after restart: MemTotal %d, want the host's %d", got, h.memTotal)
		}
		if got := memTotalOf(t, memberRead(t, after[idB].Cgroup, meminfo)); got != h.memTotal {
			t.Errorf("B (annotation 0) after restart: MemTotal %d, want the host's %d", got, h.memTotal)
		}
		if got := memTotalOf(t, memberRead(t, after[idC].Cgroup, meminfo)); got != memC {
			t.Errorf("C (switch 1) after restart: MemTotal %d, want %d", got, memC)
		}

		// A removed container's cgroup goes, and with it its entry, also from the state file.
		rm := append(append([]string{}, podmanCLI[1:]...), "rm", "-f", "-t", "0", b.name)
		if out, err := exec.Command("podman", rm...).CombinedOutput(); err != nil {
			t.Fatalf("podman rm %s: %v: %s", b.name, err, out)
		}
		poll(t, 20*time.Second, "entry of the removed container dropped", func() error {
			if e, ok := d2.list(t)[idB]; ok {
				return notYet("still listed: %+v", e)
			}
			if saved := string(readFile(t, filepath.Join(state, "switches.json"))); strings.Contains(saved, idB) {
				return notYet("still in the state file")
			}
			return nil
		})
		if _, ok := d2.list(t)[idA]; !ok {
			t.Errorf("the entry of running container A went too")
		}
		d2.alive(t)
	})
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
