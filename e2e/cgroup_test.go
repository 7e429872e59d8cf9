//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const cgroupMount = "/sys/fs/cgroup"

// limits are what a test cgroup is created with; zero values leave the setting alone.
type limits struct {
	memory int64   // bytes
	cpus   string  // cpuset, e.g. "1" or "0-1"
	quota  float64 // CFS quota in CPUs (period 100ms)
}

// cgroup is a cgroup this test created, on v1 (every mounted hierarchy) or v2, through
// containerd/cgroups. Its cleanup kills what is left in it and removes it.
type cgroup struct {
	path   string // "/procfsd-e2e-xxxx[/child]", the same in every hierarchy
	limits limits
	v1     cgroup1.Cgroup
	v2     *cgroup2.Manager
}

// cgroupV2 reports whether the host is pure cgroup v2. With PROCFSD_REQUIRE_V2=1 (the v2 CI job) a
// host that is not fails the test, so the v1 code path cannot pass in its place.
func cgroupV2(t testing.TB) bool {
	t.Helper()
	mode := cgroups.Mode()
	if os.Getenv("PROCFSD_REQUIRE_V2") == "1" && mode != cgroups.Unified {
		t.Fatalf("PROCFSD_REQUIRE_V2=1 but the host's cgroup mode is %s, not unified (pure v2)", modeName(mode))
	}
	switch mode {
	case cgroups.Unified:
		return true
	case cgroups.Legacy, cgroups.Hybrid:
		return false
	default:
		t.Fatalf("no usable cgroup mount at %s (mode %s)", cgroupMount, modeName(mode))
		return false
	}
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newCgroup creates /procfsd-e2e-<random> with the given limits.
func newCgroup(t *testing.T, l limits) *cgroup {
	t.Helper()
	return createCgroup(t, "/"+randomName("procfsd-e2e-"), l)
}

// child creates a nested cgroup below c.
func (c *cgroup) child(t *testing.T, name string, l limits) *cgroup {
	t.Helper()
	return createCgroup(t, path.Join(c.path, name), l)
}

func createCgroup(t *testing.T, p string, l limits) *cgroup {
	t.Helper()
	c := &cgroup{path: p, limits: l}
	var err error
	if cgroupV2(t) {
		res := &cgroup2.Resources{}
		if l.memory > 0 {
			res.Memory = &cgroup2.Memory{Max: &l.memory}
		}
		if l.cpus != "" || l.quota > 0 {
			res.CPU = &cgroup2.CPU{Cpus: l.cpus}
			if l.quota > 0 {
				q, period := int64(l.quota*100000), uint64(100000)
				res.CPU.Max = cgroup2.NewCPUMax(&q, &period)
			}
		}
		c.v2, err = cgroup2.NewManager(cgroupMount, p, res)
		if err == nil && path.Dir(p) == "/" {
			// A container root needs its memory, cpu, cpuset, io and pids files whatever its
			// limits, so the root's subtree_control enables them all (as container managers do).
			// Nested cgroups get only what their own limits need: a v2 cgroup with controllers
			// enabled for its children cannot hold processes itself.
			err = c.v2.ToggleControllers([]string{"cpu", "cpuset", "memory", "io", "pids"}, cgroup2.Enable)
		}
	} else {
		res := &specs.LinuxResources{}
		if l.memory > 0 {
			res.Memory = &specs.LinuxMemory{Limit: &l.memory}
		}
		if l.cpus != "" || l.quota > 0 {
			res.CPU = &specs.LinuxCPU{Cpus: l.cpus}
			if l.quota > 0 {
				q, period := int64(l.quota*100000), uint64(100000)
				res.CPU.Quota, res.CPU.Period = &q, &period
			}
		}
		c.v1, err = cgroup1.New(cgroup1.StaticPath(p), res)
	}
	if err != nil {
		t.Fatalf("create cgroup %s: %v", p, err)
	}
	t.Cleanup(func() { c.remove(t) })
	return c
}

// setCPU changes the cgroup's cpuset and CFS quota (in CPUs; 0 removes it).
func (c *cgroup) setCPU(cpus string, quota float64) error {
	q, period := int64(-1), uint64(100000)
	if quota > 0 {
		q = int64(quota * 100000)
	}
	c.limits.cpus, c.limits.quota = cpus, quota
	if c.v2 != nil {
		return c.v2.Update(&cgroup2.Resources{CPU: &cgroup2.CPU{Cpus: cpus, Max: cgroup2.NewCPUMax(&q, &period)}})
	}
	return c.v1.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: cpus, Quota: &q, Period: &period}})
}

// add moves a process into the cgroup (every v1 hierarchy, or the v2 one).
func (c *cgroup) add(pid int) error {
	if c.v2 != nil {
		return c.v2.AddProc(uint64(pid))
	}
	return c.v1.Add(cgroup1.Process{Pid: pid})
}

// pids lists the processes in the cgroup and its descendants.
func (c *cgroup) pids() ([]int, error) {
	var out []int
	err := filepath.WalkDir(c.dir(c.procsController()), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() != "cgroup.procs" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return err
			}
			out = append(out, pid)
		}
		return nil
	})
	return out, err
}

func (c *cgroup) procsController() string {
	if c.v2 != nil {
		return ""
	}
	return "memory"
}

// dir is the cgroup's directory for a v1 controller, or its v2 directory (controller ignored).
func (c *cgroup) dir(controller string) string {
	if c.v2 != nil {
		return filepath.Join(cgroupMount, c.path)
	}
	return filepath.Join(cgroupMount, controller, c.path)
}

// memoryUsageFile is the file the memory usage is read from at every meminfo render: v1
// memory.usage_in_bytes, v2 memory.current. (v1's limit comes from memory.stat's
// hierarchical_memory_limit, so its limit file is not read on kernels that print that key.)
func (c *cgroup) memoryUsageFile() string {
	if c.v2 != nil {
		return filepath.Join(c.dir(""), "memory.current")
	}
	return filepath.Join(c.dir("memory"), "memory.usage_in_bytes")
}

// cpuUsageFile is where the cgroup's CPU time is: v1 cpuacct.usage, v2 cpu.stat (usage_usec).
func (c *cgroup) cpuUsageFile() string {
	if c.v2 != nil {
		return filepath.Join(c.dir(""), "cpu.stat")
	}
	return filepath.Join(c.dir("cpuacct"), "cpuacct.usage")
}

// remove kills every process left in the cgroup tree, waits for it to empty and deletes it.
func (c *cgroup) remove(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := c.pids()
		if errors.Is(err, os.ErrNotExist) {
			return // removed by the test itself
		}
		if err == nil && len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			t.Errorf("cgroup %s still has processes %v after 10s", c.path, pids)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var err error
	for {
		if c.v2 != nil {
			err = c.v2.Delete()
		} else {
			err = c.v1.Delete()
		}
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("remove cgroup %s: %v", c.path, err)
	}
}

// leftoverCgroups lists procfsd-e2e-* cgroups at the top of any hierarchy (for TestMain).
func leftoverCgroups() []string {
	var out []string
	for _, pattern := range []string{cgroupMount + "/procfsd-e2e-*", cgroupMount + "/*/procfsd-e2e-*"} {
		m, _ := filepath.Glob(pattern)
		out = append(out, m...)
	}
	return out
}

func (c *cgroup) String() string { return fmt.Sprintf("cgroup %s", c.path) }

// TestCgroupMode records which cgroup code path the suite takes here; on the v2 CI job
// (PROCFSD_REQUIRE_V2=1) it fails on any host that is not pure cgroup v2.
func TestCgroupMode(t *testing.T) {
	if cgroupV2(t) {
		t.Logf("cgroup v2 (unified) at %s", cgroupMount)
	} else {
		t.Logf("cgroup v1 (%s) at %s", modeName(cgroups.Mode()), cgroupMount)
	}
}

func modeName(m cgroups.CGMode) string {
	switch m {
	case cgroups.Legacy:
		return "legacy"
	case cgroups.Hybrid:
		return "hybrid"
	case cgroups.Unified:
		return "unified"
	default:
		return "unavailable"
	}
}
