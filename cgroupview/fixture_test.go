package cgroupview

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Fixture trees: testdata/cgroup/<tree> with testdata/proc-pids/<tree>; see
// testdata/cgroup/README.md for what each proves.
const (
	dockerID = "/docker/3f2a9c1e7b5d"
	k8sPod   = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1e.slice"
	k8sApp   = k8sPod + "/cri-containerd-app.scope"
	webScope = "/machine.slice/machine-web.scope"
	hyUnit   = "/system.slice/docker-3f2a9c1e7b5d.scope"
)

func fixtureReader(t testing.TB, tree string) *Reader {
	t.Helper()
	r, err := New(filepath.Join("..", "testdata", "cgroup", tree), filepath.Join("..", "testdata", "proc-pids", tree))
	if err != nil {
		t.Fatalf("New(%s): %v", tree, err)
	}
	return r
}

// fakeFinder maps a PID to its namespace's init, as a test double for the ioctl and the scan.
type fakeFinder map[int]int

func (f fakeFinder) findInit(pid int, _ uint64) (int, error) {
	if p, ok := f[pid]; ok {
		return p, nil
	}
	return 0, errNoInit
}

func TestDetectModeFixtures(t *testing.T) {
	for _, tc := range []struct {
		tree string
		want Mode
	}{
		{"v1-docker", Legacy},
		{"v2-k8s", Unified},
		{"v2-systemd", Unified},
		{"hybrid", Hybrid},
	} {
		t.Run(tc.tree, func(t *testing.T) {
			got, err := DetectMode(filepath.Join("..", "testdata", "cgroup", tc.tree))
			if err != nil || got != tc.want {
				t.Errorf("DetectMode = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if m, err := DetectMode(t.TempDir()); !errors.Is(err, ErrNoCgroups) || m != Unavailable {
		t.Errorf("DetectMode(empty dir) = %v, %v; want Unavailable, ErrNoCgroups", m, err)
	}
	if _, err := DetectMode(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("DetectMode(missing dir) gave no error")
	}
}

func TestNewFindsCombinedMounts(t *testing.T) {
	r := fixtureReader(t, "hybrid")
	want := map[string]string{}
	for _, c := range []string{"memory", "cpuset", "blkio", "pids"} {
		want[c] = filepath.Join("..", "testdata", "cgroup", "hybrid", c)
	}
	want["cpu"] = filepath.Join("..", "testdata", "cgroup", "hybrid", "cpu")
	want["cpuacct"] = filepath.Join("..", "testdata", "cgroup", "hybrid", "cpuacct")
	if d := cmp.Diff(want, r.v1); d != "" {
		t.Errorf("v1 mounts (-want +got):\n%s", d)
	}
	if got := filepath.Join("..", "testdata", "cgroup", "hybrid", "unified"); r.unified != got {
		t.Errorf("unified = %q, want %q", r.unified, got)
	}
}

func v1Paths(p string) map[string]string {
	return map[string]string{"memory": p, "cpu": p, "cpuacct": p, "cpuset": p, "blkio": p, "pids": p}
}

func TestResolveFixtures(t *testing.T) {
	for _, tc := range []struct {
		name string
		tree string
		pid  int
		want Container
	}{
		{"v1 host caller gets its own cgroup", "v1-docker", 100,
			Container{ID: "/user.slice", Paths: v1Paths("/user.slice"), InitStart: 5000}},
		{"v1 host thread: start time of its thread group leader", "v1-docker", 101,
			Container{ID: "/user.slice", Paths: v1Paths("/user.slice"), InitStart: 5000}},
		{"v1 host init sits in the root", "v1-docker", 1,
			Container{ID: "/", Paths: v1Paths("/"), InitStart: 1, Root: true}},
		{"v1 container init", "v1-docker", 1000,
			Container{ID: dockerID, Paths: v1Paths(dockerID), InitPID: 1000, InitStart: 700000}},
		{"v1 process in a nested cgroup sees the init's", "v1-docker", 1001,
			Container{ID: dockerID, Paths: v1Paths(dockerID), InitPID: 1000, InitStart: 700000}},
		{"v1 thread of init", "v1-docker", 1002,
			Container{ID: dockerID, Paths: v1Paths(dockerID), InitPID: 1000, InitStart: 700000}},
		{"k8s shared pidns: pause is no ancestor, own cgroup", "v2-k8s", 2001,
			Container{ID: k8sApp, Paths: map[string]string{"": k8sApp}, InitPID: 2000, InitStart: 900000}},
		{"systemd container: init.scope pruned", "v2-systemd", 3001,
			Container{ID: webScope, Paths: map[string]string{"": webScope}, InitPID: 3000, InitStart: 800000}},
		{"systemd container init itself", "v2-systemd", 3000,
			Container{ID: webScope, Paths: map[string]string{"": webScope}, InitPID: 3000, InitStart: 800000}},
		{"v2 host init in /init.scope is not pruned", "v2-systemd", 1,
			Container{ID: "/init.scope", Paths: map[string]string{"": "/init.scope"}, InitStart: 1}},
		{"hybrid: v1 paths plus the unified one", "hybrid", 4001,
			Container{ID: hyUnit, Paths: func() map[string]string {
				p := v1Paths(hyUnit)
				p[""] = hyUnit
				return p
			}(), InitPID: 4000, InitStart: 600000}},
	} {
		for _, finder := range []string{"scan", "fake"} {
			t.Run(tc.name+"/"+finder, func(t *testing.T) {
				r := fixtureReader(t, tc.tree)
				if finder == "fake" {
					r.finder = fakeFinder{1001: 1000, 1002: 1000, 1000: 1000, 2001: 2000, 3000: 3000, 3001: 3000, 4001: 4000}
				}
				c, err := r.Resolve(tc.pid)
				if err != nil {
					t.Fatalf("Resolve(%d): %v", tc.pid, err)
				}
				if d := cmp.Diff(tc.want, *c); d != "" {
					t.Errorf("Resolve(%d) (-want +got):\n%s", tc.pid, d)
				}
			})
		}
	}
}

func TestResolveProcessGone(t *testing.T) {
	r := fixtureReader(t, "v1-docker")
	for _, pid := range []int{1003, 99999} {
		if _, err := r.Resolve(pid); !errors.Is(err, ErrProcessGone) {
			t.Errorf("Resolve(%d) = %v, want ErrProcessGone", pid, err)
		}
	}
	// An init that cannot be found means the namespace is dying.
	r.finder = fakeFinder{}
	if _, err := r.Resolve(1001); !errors.Is(err, ErrProcessGone) {
		t.Errorf("Resolve without init = %v, want ErrProcessGone", err)
	}
}

// copyTree copies a fixture tree (with its ns/pid symlinks) to a temporary directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "tree")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dst
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestResolveCachePIDReuse: a cached entry is only returned for the same (PID, start time),
// and only for resolveTTL (docs/behaviour.md §2.1: an entry never outlives its process).
func TestResolveCachePIDReuse(t *testing.T) {
	r, proc := v1DockerWithProcCopy(t)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	first, err := r.Resolve(100)
	if err != nil {
		t.Fatal(err)
	}
	// Same process, cgroup changed on disk: the cache answers (it is not re-read per call).
	writeFile(t, proc+"/100/cgroup", "4:memory:/moved\n")
	if c, _ := r.Resolve(100); c != first {
		t.Errorf("same (pid, start) within TTL: got %+v, want the cached %+v", c, first)
	}
	// After the TTL the move is seen.
	now = now.Add(resolveTTL)
	if c, err := r.Resolve(100); err != nil || c.ID != "/moved" {
		t.Errorf("after TTL: got %+v, %v; want ID /moved", c, err)
	}
	// PID reused: a new start time never gets the old entry, even within the TTL.
	writeFile(t, proc+"/100/cgroup", "4:memory:/reused\n")
	writeFile(t, proc+"/100/stat", "100 (new) S 1 100 100 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777777 1 1\n")
	if c, err := r.Resolve(100); err != nil || c.ID != "/reused" || c.InitStart != 777777 {
		t.Errorf("reused pid: got %+v, %v; want ID /reused, InitStart 777777", c, err)
	}
}

// TestResolveRenewsExpiredEntry: an entry past its TTL is served again, without a whole lookup,
// while the process's cgroup files and its namespace init's read the same; a change in either
// is a fresh lookup; an entry past twice the TTL is never renewed.
func TestResolveRenewsExpiredEntry(t *testing.T) {
	r, proc := v1DockerWithProcCopy(t)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	calls := 0
	r.finder = countingFinder{fakeFinder{1001: 1000}, &calls}
	first, err := r.Resolve(1001) // in the namespace of init 1000
	if err != nil || first.InitPID != 1000 {
		t.Fatalf("Resolve(1001) = %+v, %v", first, err)
	}
	// Expired, files unchanged: the same container, and the status file (which a whole lookup
	// reads) is not read.
	status, err := os.ReadFile(proc + "/1001/status")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(proc + "/1001/status")
	now = now.Add(resolveTTL)
	if c, err := r.Resolve(1001); err != nil || c != first {
		t.Fatalf("expired, unchanged: %+v, %v; want the cached %+v", c, err, first)
	}
	// Renewed for another TTL from now: still served within it.
	now = now.Add(resolveTTL * 3 / 2)
	if c, err := r.Resolve(1001); err != nil || c != first {
		t.Fatalf("within the renewed TTL's renewal: %+v, %v; want the cached %+v", c, err, first)
	}
	writeFile(t, proc+"/1001/status", string(status))
	// changeCgroups adds a line to pid's cgroup file, so that it no longer reads as it did.
	changeCgroups := func(pid string) {
		t.Helper()
		b, err := os.ReadFile(proc + "/" + pid + "/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, proc+"/"+pid+"/cgroup", string(b)+"0::/elsewhere\n")
	}
	// The init's cgroup changed: a fresh lookup.
	changeCgroups("1000")
	now = now.Add(resolveTTL)
	second, err := r.Resolve(1001)
	if err != nil || second == first {
		t.Fatalf("init's cgroups changed: %+v, %v; want a fresh lookup", second, err)
	}
	// The caller's own cgroup changed: a fresh lookup.
	changeCgroups("1001")
	now = now.Add(resolveTTL)
	third, err := r.Resolve(1001)
	if err != nil || third == second {
		t.Fatalf("own cgroups changed: %+v, %v; want a fresh lookup", third, err)
	}
	// Past twice the TTL nothing is renewed, unchanged files or not.
	os.Remove(proc + "/1001/status")
	now = now.Add(2 * resolveTTL)
	if c, err := r.Resolve(1001); err == nil {
		t.Errorf("past twice the TTL: %+v served without a whole lookup", c)
	}
}

// v1DockerWithProcCopy is a reader of the v1-docker fixture whose proc tree is a copy the test
// may change; it returns that copy's path.
func v1DockerWithProcCopy(t *testing.T) (*Reader, string) {
	t.Helper()
	proc := copyTree(t, filepath.Join("..", "testdata", "proc-pids", "v1-docker"))
	r, err := New(filepath.Join("..", "testdata", "cgroup", "v1-docker"), proc)
	if err != nil {
		t.Fatal(err)
	}
	return r, proc
}

func TestResolveCacheBounded(t *testing.T) {
	rc := newResolveCache(time.Second, 8)
	now := time.Unix(0, 0)
	for pid := 1; pid <= 100; pid++ {
		rc.put(pid, 1, &Container{}, now)
		if n := rc.len(); n > 8 {
			t.Fatalf("cache holds %d entries, bound is 8", n)
		}
	}
	// Every entry of a dead process expires and is swept by the next insertion once it can no
	// longer be renewed: twice the TTL.
	rc.put(1000, 1, &Container{}, now.Add(time.Second))
	if n := rc.len(); n < 2 {
		t.Errorf("after one TTL: %d entries; the renewable ones were swept", n)
	}
	rc.put(1001, 1, &Container{}, now.Add(2*time.Second))
	if n := rc.len(); n != 2 {
		t.Errorf("after twice the TTL: %d entries, want the 2 inserted since", n)
	}
}

func TestInitCacheRevalidates(t *testing.T) {
	r, proc := v1DockerWithProcCopy(t)
	calls := 0
	r.finder = countingFinder{fakeFinder{1001: 1000}, &calls}
	if _, err := r.Resolve(1001); err != nil {
		t.Fatal(err)
	}
	r.resolved = newResolveCache(resolveTTL, maxResolved) // force a fresh lookup
	if _, err := r.Resolve(1001); err != nil || calls != 1 {
		t.Fatalf("second lookup: err %v, finder calls %d; want the namespace cache (1 call)", err, calls)
	}
	// The init restarted under the same PID (new start time): the cached init is not trusted.
	writeFile(t, proc+"/1000/stat", "1000 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 700001 1 1\n")
	r.resolved = newResolveCache(resolveTTL, maxResolved)
	c, err := r.Resolve(1001)
	if err != nil || calls != 2 || c.InitStart != 700001 {
		t.Errorf("after init restart: %+v, %v, finder calls %d; want InitStart 700001 and a new lookup", c, err, calls)
	}
}

type countingFinder struct {
	initFinder
	n *int
}

func (f countingFinder) findInit(pid int, ns uint64) (int, error) {
	*f.n++
	return f.initFinder.findInit(pid, ns)
}

func TestMemoryFixtures(t *testing.T) {
	for _, tc := range []struct {
		name string
		tree string
		pid  int
		want Memory
	}{
		{"v1: limit from the container, swap = memsw - mem, total_* keys renamed", "v1-docker", 1001, Memory{
			Limit: 1073741824, Usage: 104857600, SwapLimit: 536870912, SwapUsage: 110000000 - 104857600, SwapAccounted: true,
			Stat: map[string]uint64{"file": 50000000, "anon": 40000000, "anon_thp": 2097152, "shmem": 4096,
				"file_mapped": 8192, "file_dirty": 12288, "file_writeback": 0, "swap": 5142400, "pgpgin": 1000,
				"pgpgout": 900, "pgfault": 7000, "pgmajfault": 3, "inactive_anon": 30000000, "active_anon": 10000000,
				"inactive_file": 45000000, "active_file": 5000000, "unevictable": 0},
		}},
		{"v2 k8s: limits from the pod cgroup", "v2-k8s", 2001, Memory{
			Limit: 536870912, Usage: 50000000, SwapLimit: 0, SwapUsage: 0, SwapAccounted: true,
			Stat: map[string]uint64{"anon": 20000000, "file": 25000000, "kernel": 1000000, "kernel_stack": 65536,
				"shmem": 4096, "file_mapped": 8192, "file_dirty": 4096, "file_writeback": 0, "anon_thp": 0,
				"inactive_anon": 15000000, "active_anon": 5000000, "inactive_file": 20000000, "active_file": 5000000,
				"unevictable": 0, "slab_reclaimable": 600000, "slab_unreclaimable": 300000, "slab": 900000,
				"pgfault": 12345, "pgmajfault": 6, "workingset_refault_anon": 0, "workingset_refault_file": 7},
		}},
		{"v2 systemd: nested limits below the container root ignored", "v2-systemd", 3001, Memory{
			Limit: 1073741824, Usage: 300000000, SwapLimit: Unlimited, SwapUsage: 4096, SwapAccounted: true,
			Stat: map[string]uint64{"anon": 1, "file": 2},
		}},
		{"hybrid: memory from v1", "hybrid", 4001, Memory{
			Limit: 268435456, Usage: 1048576, SwapLimit: Unlimited, Stat: map[string]uint64{"file": 4096, "anon": 8192},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { checkResolvedView(t, tc.tree, tc.pid, tc.want, (*Reader).Memory) })
	}
}

func TestMemoryV1WithoutMemsw(t *testing.T) {
	r := fixtureReader(t, "v1-docker")
	got, err := r.Memory(&Container{ID: "/docker/old", Paths: v1Paths("/docker/old")})
	if err != nil {
		t.Fatal(err)
	}
	want := Memory{Limit: 8589934592, Usage: 4096, SwapLimit: Unlimited, Stat: map[string]uint64{"file": 0, "anon": 4096}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Memory (-want +got):\n%s", d)
	}
}

func TestMemoryMissingCgroup(t *testing.T) {
	r := fixtureReader(t, "v1-docker")
	_, err := r.Memory(&Container{ID: "/gone", Paths: v1Paths("/gone")})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Memory of a removed cgroup = %v, want a not-exist error", err)
	}
}

func TestCPUFixtures(t *testing.T) {
	for _, tc := range []struct {
		name string
		tree string
		c    *Container
		pid  int
		want CPU
	}{
		{"v1: cpuset and quota of the container, cpuacct.usage split by usage_all", "v1-docker", nil, 1001,
			CPU{Cpuset: []int{1, 3}, Quota: 1.5, UserNS: 4923076923, SystemNS: 1476923077}},
		{"v1 old kernel: empty cpuset walks up, usage split by cpuacct.stat", "v1-docker",
			&Container{ID: "/docker/old", Paths: v1Paths("/docker/old")}, 0,
			CPU{Cpuset: []int{0, 1, 2, 3}, Quota: 3, UserNS: 750000000, SystemNS: 250000000}},
		{"v2 k8s: pod quota, cpuset.cpus.effective of the pod", "v2-k8s", nil, 2001,
			CPU{Cpuset: []int{2, 3}, Quota: 1.5, UserNS: 2500000000, SystemNS: 1000000000}},
		{"v2 systemd", "v2-systemd", nil, 3002,
			CPU{Cpuset: []int{0, 1, 2, 3}, Quota: 2, UserNS: 2000, SystemNS: 1000}},
		{"hybrid", "hybrid", nil, 4000,
			CPU{Cpuset: []int{0}, Quota: 0.5, UserNS: 10, SystemNS: 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fixtureReader(t, tc.tree)
			c := tc.c
			if c == nil {
				var err error
				if c, err = r.Resolve(tc.pid); err != nil {
					t.Fatal(err)
				}
			}
			got, err := r.CPU(c)
			if err != nil {
				t.Fatalf("CPU: %v", err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("CPU (-want +got):\n%s", d)
			}
		})
	}
}

// checkResolvedView resolves pid in the fixture tree and compares what view reads for its
// container with want.
func checkResolvedView[T any](t *testing.T, tree string, pid int, want T, view func(*Reader, *Container) (T, error)) {
	t.Helper()
	r := fixtureReader(t, tree)
	c, err := r.Resolve(pid)
	if err != nil {
		t.Fatal(err)
	}
	got, err := view(r, c)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("view of pid %d in %s (-want +got):\n%s", pid, tree, d)
	}
}

func TestTasksFixtures(t *testing.T) {
	for _, tc := range []struct {
		name string
		tree string
		pid  int
		want Tasks
	}{
		// 1003 is listed but gone; 1001 (D) is in the nested child; newest live TID 1002 is 2 inside.
		{"v1 subtree, vanished thread skipped", "v1-docker", 1000, Tasks{Running: 1, Blocked: 1, Total: 3, LastPID: 2}},
		{"v2 k8s container", "v2-k8s", 2001, Tasks{Running: 1, Total: 2, LastPID: 8}},
		{"v2 systemd subtree", "v2-systemd", 3001, Tasks{Blocked: 1, Total: 3, LastPID: 41}},
		{"hybrid from v1 cpu tasks", "hybrid", 4001, Tasks{Running: 1, Total: 2, LastPID: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) { checkResolvedView(t, tc.tree, tc.pid, tc.want, (*Reader).Tasks) })
	}
}

// TestMemoryV1HierarchicalLimitsFromStat: where memory.stat has the kernel's hierarchical limits,
// they are the limits, whatever the limit files of each level say (they are the kernel's own
// minimum over the ancestors, and one read instead of a walk).
func TestMemoryV1HierarchicalLimitsFromStat(t *testing.T) {
	cg := copyTree(t, filepath.Join("..", "testdata", "cgroup", "v1-docker"))
	stat := filepath.Join(cg, "memory", dockerID, "memory.stat")
	b, err := os.ReadFile(stat)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("hierarchical_memory_limit 1073741824\n"),
		[]byte("hierarchical_memory_limit 268435456\nhierarchical_memsw_limit 402653184\n"), 1)
	writeFile(t, stat, string(b))
	r, err := New(cg, filepath.Join("..", "testdata", "proc-pids", "v1-docker"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Memory(&Container{ID: dockerID, Paths: v1Paths(dockerID)})
	if err != nil {
		t.Fatal(err)
	}
	// memsw usage 110000000 − usage 104857600 (the files).
	if m.Limit != 256<<20 || m.SwapLimit != 128<<20 || !m.SwapAccounted || m.SwapUsage != 110000000-104857600 {
		t.Errorf("Memory = %+v; want Limit %d and SwapLimit %d from memory.stat", m, 256<<20, 128<<20)
	}
}

// TestThreadsFixtures: Threads counts the listed threads without reading their states, and finds
// the same newest PID as Tasks.
func TestThreadsFixtures(t *testing.T) {
	for _, tc := range []struct {
		name string
		tree string
		pid  int
		want Tasks
	}{
		// 1003 is listed, so counted, but gone, so never the newest: 1002, which is 2 inside.
		{"v1 subtree, vanished thread listed", "v1-docker", 1000, Tasks{Total: 4, LastPID: 2}},
		{"v2 k8s container", "v2-k8s", 2001, Tasks{Total: 2, LastPID: 8}},
		{"v2 systemd subtree", "v2-systemd", 3001, Tasks{Total: 3, LastPID: 41}},
		{"hybrid from v1 cpu tasks", "hybrid", 4001, Tasks{Total: 2, LastPID: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) { checkResolvedView(t, tc.tree, tc.pid, tc.want, (*Reader).Threads) })
	}
}

func TestIOFixtures(t *testing.T) {
	for _, tc := range []struct {
		name string
		tree string
		path string
		want IO
	}{
		{"v1 throttle files preferred", "v1-docker", dockerID, IO{Devices: []DeviceIO{
			{Major: 8, Minor: 0, ReadBytes: 4096000, WriteBytes: 8192000, ReadOps: 100, WriteOps: 200, DiscardBytes: 512, DiscardOps: 1},
			{Major: 253, Minor: 1, ReadBytes: 10, WriteBytes: 20, ReadOps: 1, WriteOps: 2},
		}}},
		{"v1 fallback to the non-throttle files", "v1-docker", "/docker/old", IO{Devices: []DeviceIO{
			{Major: 8, Minor: 16, ReadBytes: 7, WriteBytes: 9, ReadOps: 1, WriteOps: 2},
		}}},
		{"v2 io.stat, unknown keys skipped", "v2-k8s", k8sApp, IO{Devices: []DeviceIO{
			{Major: 8, Minor: 0, ReadBytes: 4096, ReadOps: 1, DiscardBytes: 512, DiscardOps: 1},
			{Major: 259, Minor: 0, ReadBytes: 1048576, WriteBytes: 2097152, ReadOps: 16, WriteOps: 32},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fixtureReader(t, tc.tree)
			c := &Container{ID: tc.path, Paths: v1Paths(tc.path)}
			if r.Mode() == Unified {
				c.Paths = map[string]string{"": tc.path}
			}
			got, err := r.IO(c)
			if err != nil {
				t.Fatalf("IO: %v", err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("IO (-want +got):\n%s", d)
			}
		})
	}
	r := fixtureReader(t, "v1-docker")
	if _, err := r.IO(&Container{ID: "/docker/none", Paths: v1Paths("/docker/none")}); !errors.Is(err, ErrNoData) {
		t.Errorf("IO without blkio counters = %v, want ErrNoData", err)
	}
	r = fixtureReader(t, "v2-systemd")
	if _, err := r.IO(&Container{ID: webScope, Paths: map[string]string{"": webScope}}); !errors.Is(err, ErrNoData) {
		t.Errorf("IO without io.stat = %v, want ErrNoData", err)
	}
}

func TestPressureFixtures(t *testing.T) {
	hy := fixtureReader(t, "hybrid")
	c, err := hy.Resolve(4001)
	if err != nil {
		t.Fatal(err)
	}
	got, err := hy.Pressure(c, "cpu")
	if want := "some avg10=0.25 avg60=0.10 avg300=0.02 total=4242\n"; err != nil || string(got) != want {
		t.Errorf("hybrid Pressure(cpu) = %q, %v; want the unified cgroup's %q", got, err, want)
	}
	if _, err := hy.Pressure(c, "memory"); !errors.Is(err, ErrNoData) {
		t.Errorf("Pressure(memory) without the file = %v, want ErrNoData", err)
	}
	if _, err := hy.Pressure(c, "disk"); err == nil || errors.Is(err, ErrNoData) {
		t.Errorf("Pressure(disk) = %v, want an unknown-resource error", err)
	}
	v1 := fixtureReader(t, "v1-docker")
	if _, err := v1.Pressure(&Container{ID: dockerID, Paths: v1Paths(dockerID)}, "cpu"); !errors.Is(err, ErrNoData) {
		t.Errorf("v1 Pressure = %v, want ErrNoData", err)
	}
	k8s := fixtureReader(t, "v2-k8s")
	got, err = k8s.Pressure(&Container{ID: k8sApp, Paths: map[string]string{"": k8sApp}}, "memory")
	if err != nil || len(got) == 0 {
		t.Errorf("v2 Pressure(memory) = %q, %v", got, err)
	}
}

func TestExists(t *testing.T) {
	r := fixtureReader(t, "v1-docker")
	if !r.Exists(&Container{ID: dockerID, Paths: v1Paths(dockerID)}) {
		t.Error("Exists(existing container) = false")
	}
	if r.Exists(&Container{ID: "/gone", Paths: v1Paths("/gone")}) {
		t.Error("Exists(removed container) = true")
	}
}

// TestPruneClosesExpiredEntries: after a quiet spell longer than the cache lifetime, Prune
// leaves nothing cached, so no descriptor outlives its process for long.
func TestPruneClosesExpiredEntries(t *testing.T) {
	r := fixtureReader(t, "v1-docker")
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	r.resolved.put(4242, 1, &Container{ID: "/x"}, now)
	r.Prune()
	if n := r.resolved.len(); n != 1 {
		t.Fatalf("a fresh entry was pruned: %d left, want 1", n)
	}
	now = now.Add(resolveTTL)
	r.Prune()
	if n := r.resolved.len(); n != 1 {
		t.Fatalf("a renewable entry was pruned: %d left, want 1", n)
	}
	now = now.Add(resolveTTL)
	r.Prune()
	if n := r.resolved.len(); n != 0 {
		t.Errorf("%d entries left after the cache lifetime (twice the TTL), want 0", n)
	}
}
