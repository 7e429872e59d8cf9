//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// copyFixture copies a testdata tree into a temporary directory the test may change.
func copyFixture(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v: %s", src, err, out)
	}
	return dst
}

// inCgroupProcs reports whether pid is listed in the v1 cgroup's cgroup.procs.
func inCgroupProcs(ctrl, path string, pid int) bool {
	b, err := os.ReadFile(filepath.Join(cgroupMount, ctrl, path, "cgroup.procs"))
	if err != nil {
		return false
	}
	for _, f := range strings.Fields(string(b)) {
		if f == strconv.Itoa(pid) {
			return true
		}
	}
	return false
}

// TestNativeKernelFixture runs the daemon on a TencentOS 2.4 /proc (testdata/native, with
// both sysctls): status reports the native mode, the host switch lands in the sysctl, the hook
// mounts nothing, and a container that opts out has the native helper write 0 to the sysctl
// from inside the container's memory, cpuset, cpuacct and blkio cgroups (docs/behaviour.md §3).
func TestNativeKernelFixture(t *testing.T) {
	if cgroupV2(t) {
		t.Skip("the TencentOS switches live in v1 cgroups only; this host is cgroup v2")
	}
	proc := copyFixture(t, "../testdata/native/proc")
	mnt, state := switchDirs(t)
	d := startCtlDaemon(t, mnt, state, "--proc-root", proc)

	var st struct {
		Mode          string `json:"mode"`
		StatsIsolated bool   `json:"stats_isolated"`
	}
	if err := json.Unmarshal([]byte(d.mustCtl(t, "status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode != "native kernel" || !st.StatsIsolated {
		t.Errorf("status: %+v, want native kernel with the fixture's stats_isolated 1", st)
	}
	if out := d.mustCtl(t, "status"); !strings.Contains(out, "native kernel") {
		t.Errorf("status table does not name the mode: %q", out)
	}

	sysctl := filepath.Join(proc, "sys/kernel/stats_isolated")
	for _, v := range []string{"0", "1"} {
		d.mustCtl(t, "ctl", "set", "host", v)
		if got := string(readFile(t, sysctl)); got != v+"\n" {
			t.Errorf("after ctl set host %s the sysctl holds %q", v, got)
		}
	}

	cg := newCgroup(t, limits{memory: 256 << 20})
	flags := []string{"--mountpoint", mnt, "--state-dir", state}
	t.Run("no opt-out", func(t *testing.T) {
		b := newFakeBundle(t, nil)
		if r := runHook(t, cg, b.state, b.dir, flags...); r.code != 0 || len(r.mounts) != 0 {
			t.Errorf("native hook: exit %d, mounts %v; want 0 and none", r.code, r.mounts)
		}
	})

	t.Run("opt-out runs the helper in the container's cgroups", func(t *testing.T) {
		// A FIFO in place of the write-only sysctl: the helper blocks opening it, which gives the
		// test time to see where the helper is, and then what it writes.
		fifo := filepath.Join(proc, "sys/kernel/container_stats_isolated")
		if err := os.Remove(fifo); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(fifo, 0o622); err != nil {
			t.Fatal(err)
		}
		b := newFakeBundle(t, map[string]string{optOutKey: "0"})
		h := startHook(t, cg, b.state, b.dir, flags...)
		defer h.kill()
		var helper int
		poll(t, 20*time.Second, "native helper in the container's memory cgroup", func() error {
			b, err := os.ReadFile(filepath.Join(cgroupMount, "memory", cg.path, "cgroup.procs"))
			if err != nil {
				return err
			}
			for _, f := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(f)
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				if strings.Contains(string(cmdline), "native-helper") {
					helper = pid
					return nil
				}
			}
			return notYet("no helper among %q", b)
		})
		for _, ctrl := range []string{"memory", "cpuset", "cpuacct", "blkio"} {
			if !inCgroupProcs(ctrl, cg.path, helper) {
				t.Errorf("helper %d is not in the container's %s cgroup %s", helper, ctrl, cg.path)
			}
		}
		f, err := os.OpenFile(fifo, os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || string(got) != "0\n" {
			t.Errorf("helper wrote %q (%v), want \"0\\n\"", got, err)
		}
		if r := h.wait(t); r.code != 0 || len(r.mounts) != 0 {
			t.Errorf("native hook with opt-out: exit %d, mounts %v; want 0 and none", r.code, r.mounts)
		}
		if e := d.list(t)[cg.path]; e.Source != "annotation" || e.Isolated || e.Mode != "native kernel" {
			t.Errorf("ctl list: %+v", e)
		}
	})
	d.alive(t)
}
