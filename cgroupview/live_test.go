package cgroupview

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"procfsd/internal/testenv"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Live tests run on the host's own cgroup v1 controllers at /sys/fs/cgroup/<ctrl> as root. They
// create cgroups named procfsd-test-<random>, move only processes they started into them, and
// remove them in t.Cleanup. On other hosts they skip, unless PROCFSD_REQUIRE_PRIVILEGED=1 (set
// by make test) turns the skip into a failure (internal/testenv).

const liveRoot = "/sys/fs/cgroup"

func requireLiveV1(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.Require(t, fsMagic(liveRoot+"/memory") == 0x27e0eb, // CGROUP_SUPER_MAGIC
		"needs cgroup v1 controllers at "+liveRoot)
}

// liveCgroup is a test cgroup in every v1 controller the views read.
type liveCgroup struct {
	path string            // "/procfsd-test-<hex>"
	dirs map[string]string // controller → directory (deduplicated for combined mounts)
}

func newLiveCgroup(t *testing.T) *liveCgroup {
	t.Helper()
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	cg := &liveCgroup{path: "/procfsd-test-" + hex.EncodeToString(rnd[:]), dirs: map[string]string{}}
	made := map[string]bool{}
	for _, ctrl := range v1Controllers {
		mount, err := filepath.EvalSymlinks(filepath.Join(liveRoot, ctrl))
		if err != nil {
			t.Fatalf("controller %s: %v", ctrl, err)
		}
		dir := mount + cg.path
		cg.dirs[ctrl] = dir
		if made[dir] {
			continue
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		made[dir] = true
	}
	t.Cleanup(func() { cg.remove(t) })
	cg.initCpuset(t, cg.dirs["cpuset"])
	return cg
}

// initCpuset copies cpuset.mems and cpuset.cpus from the parent: a v1 cpuset cgroup takes no
// tasks while they are empty.
func (cg *liveCgroup) initCpuset(t *testing.T, dir string) {
	t.Helper()
	for _, f := range []string{"cpuset.mems", "cpuset.cpus"} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, f), strings.TrimSpace(string(b)))
	}
}

// mkChild creates the nested cgroup <path>/child in every controller.
func (cg *liveCgroup) mkChild(t *testing.T) {
	t.Helper()
	done := map[string]bool{}
	for _, dir := range cg.dirs {
		if done[dir] {
			continue
		}
		done[dir] = true
		if err := os.Mkdir(dir+"/child", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cg.initCpuset(t, cg.dirs["cpuset"]+"/child")
}

// move puts process pid into the cgroup (sub "" or "/child") of every controller.
func (cg *liveCgroup) move(t *testing.T, pid int, sub string) {
	t.Helper()
	for _, ctrl := range v1Controllers {
		write(t, cg.dirs[ctrl]+sub+"/cgroup.procs", strconv.Itoa(pid))
	}
}

// remove kills every process left in the test cgroups, waits until they are empty and removes
// them, children first. It never touches a cgroup the test did not create.
func (cg *liveCgroup) remove(t *testing.T) {
	seen := map[string]bool{}
	for _, dir := range cg.dirs {
		if seen[dir] {
			continue
		}
		seen[dir] = true
		for _, d := range []string{dir + "/child", dir} {
			if _, err := os.Stat(d); err != nil {
				continue
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				b, err := os.ReadFile(d + "/cgroup.procs")
				if err != nil || len(strings.TrimSpace(string(b))) == 0 {
					break
				}
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				if time.Now().After(deadline) {
					t.Errorf("cgroup %s still has processes %q", d, b)
					break
				}
				time.Sleep(10 * time.Millisecond) // polling for the kernel to reap, with a deadline
			}
			if err := os.Remove(d); err != nil {
				t.Errorf("remove %s: %v", d, err)
			}
		}
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatalf("write %q to %s: %v", s, path, err)
	}
}

func liveReader(t testing.TB) *Reader {
	t.Helper()
	r, err := New(liveRoot, "/proc")
	if err != nil {
		t.Fatalf("New(%s, /proc): %v", liveRoot, err)
	}
	return r
}

func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// TestLiveV1 sets limits with the kernel's own files and checks that every view reads back
// exactly those for a host-namespace process moved into the cgroup.
func TestLiveV1(t *testing.T) {
	requireLiveV1(t)
	cg := newLiveCgroup(t)
	write(t, cg.dirs["memory"]+"/memory.limit_in_bytes", strconv.Itoa(64<<20))
	memsw := exists(cg.dirs["memory"] + "/memory.memsw.limit_in_bytes")
	if memsw {
		write(t, cg.dirs["memory"]+"/memory.memsw.limit_in_bytes", strconv.Itoa(96<<20))
	}
	write(t, cg.dirs["cpuset"]+"/cpuset.cpus", "0")
	write(t, cg.dirs["cpu"]+"/cpu.cfs_period_us", "100000")
	write(t, cg.dirs["cpu"]+"/cpu.cfs_quota_us", "50000")
	sleep := startSleep(t)
	pid := sleep.Process.Pid
	cg.move(t, pid, "")

	r := liveReader(t)
	c, err := r.Resolve(pid)
	if err != nil {
		t.Fatalf("Resolve(%d): %v", pid, err)
	}
	for _, ctrl := range v1Controllers {
		if c.Paths[ctrl] != cg.path {
			t.Errorf("Paths[%s] = %q, want %q", ctrl, c.Paths[ctrl], cg.path)
		}
	}
	start, _ := ProcessStart("/proc", pid)
	if c.ID != cg.path || c.InitPID != 0 || c.InitStart != start || c.Root {
		t.Errorf("Resolve = %+v; want ID %s, InitPID 0 (host namespace), InitStart %d", c, cg.path, start)
	}

	m, err := r.Memory(c)
	if err != nil {
		t.Fatalf("Memory: %v", err)
	}
	if m.Limit != 64<<20 || m.Usage > m.Limit || m.SwapAccounted != memsw {
		t.Errorf("Memory = %+v; want Limit %d, Usage ≤ Limit, SwapAccounted %v", m, 64<<20, memsw)
	}
	if memsw && m.SwapLimit != 32<<20 {
		t.Errorf("SwapLimit = %d, want memsw − mem = %d", m.SwapLimit, 32<<20)
	}
	if _, ok := m.Stat["anon"]; !ok {
		t.Errorf("memory.stat has no total_rss → anon: %v", m.Stat)
	}

	before := readLiveUint(t, cg.dirs["cpuacct"]+"/cpuacct.usage")
	cpu, err := r.CPU(c)
	if err != nil {
		t.Fatalf("CPU: %v", err)
	}
	after := readLiveUint(t, cg.dirs["cpuacct"]+"/cpuacct.usage")
	if !slices.Equal(cpu.Cpuset, []int{0}) || cpu.Quota != 0.5 {
		t.Errorf("CPU = %+v; want Cpuset [0], Quota 0.5", cpu)
	}
	// usage_all's columns are tick-sampled splits of the same total, so they sum to cpuacct.usage
	// only roughly; allow the 2% that docs/behaviour.md §2.3 allows plus a tick.
	if got := cpu.UserNS + cpu.SystemNS; float64(got) > float64(after)*1.02+1e7 || float64(got) < float64(before)*0.98-1e7 {
		t.Errorf("user+system = %d ns, cpuacct.usage %d..%d", got, before, after)
	}

	waitSleeping(t, pid)
	tasks, err := r.Tasks(c)
	if err != nil {
		t.Fatalf("Tasks: %v", err)
	}
	if want := (Tasks{Total: 1, LastPID: pid}); tasks != want {
		t.Errorf("Tasks = %+v, want %+v (one sleeping thread)", tasks, want)
	}
	if _, err := r.IO(c); err != nil {
		t.Errorf("IO: %v (blkio.throttle files exist on every v1 kernel)", err)
	}
	if !r.Exists(c) {
		t.Error("Exists = false for a live cgroup")
	}
	if r.Mode() == Hybrid {
		if b, err := r.Pressure(c, "cpu"); err != nil || !strings.HasPrefix(string(b), "some ") {
			t.Errorf("Pressure(cpu) on hybrid = %q, %v", b, err)
		}
	}
}

func readLiveUint(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLiveDetectMode(t *testing.T) {
	requireLiveV1(t)
	want := Legacy
	if fsMagic(liveRoot+"/unified") == 0x63677270 { // CGROUP2_SUPER_MAGIC
		want = Hybrid
	}
	if got, err := DetectMode(liveRoot); got != want || err != nil {
		t.Errorf("DetectMode(%s) = %v, %v; want %v", liveRoot, got, err, want)
	}
}

// TestLiveResolveSelf: the test process is in the host PID namespace, so it gets its own
// cgroups as /proc/self/cgroup prints them.
func TestLiveResolveSelf(t *testing.T) {
	requireLiveV1(t)
	r := liveReader(t)
	c, err := r.Resolve(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	v1, _, err := parseCgroupFile(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, ctrl := range v1Controllers {
		if c.Paths[ctrl] != v1[ctrl] {
			t.Errorf("Paths[%s] = %q, /proc/self/cgroup says %q", ctrl, c.Paths[ctrl], v1[ctrl])
		}
	}
	if c.InitPID != 0 {
		t.Errorf("InitPID = %d, want 0 for the host namespace", c.InitPID)
	}
}

// TestLivePIDNamespace runs `unshare --pid --fork --mount-proc` in the test cgroup and moves the
// namespace's grandchild (a sleep) into a nested child cgroup: Resolve of the grandchild must find
// the namespace's init and give the init's cgroup (docs/behaviour.md §2.1). Both init finders are
// checked against the known answer, which also proves NS_GET_TGID_FROM_PIDNS on this kernel.
func TestLivePIDNamespace(t *testing.T) {
	requireLiveV1(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1)")
	}
	cg := newLiveCgroup(t)
	cg.mkChild(t)
	// The shell waits for a line so that it is in the cgroup before it forks the namespace.
	cmd := exec.Command("sh", "-c", "read x; exec unshare --pid --fork --mount-proc sh -c 'sleep 1000 & wait'")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	cg.move(t, cmd.Process.Pid, "")
	io.WriteString(stdin, "go\n")

	initPID := waitChild(t, cmd.Process.Pid, "sh")
	t.Cleanup(func() { syscall.Kill(initPID, syscall.SIGKILL) }) // takes the whole namespace down
	sleepPID := waitChild(t, initPID, "sleep")
	cg.move(t, sleepPID, "/child")

	r := liveReader(t)
	c, err := r.Resolve(sleepPID)
	if err != nil {
		t.Fatalf("Resolve(%d): %v", sleepPID, err)
	}
	initStart, err := ProcessStart("/proc", initPID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ctrl := range v1Controllers {
		if c.Paths[ctrl] != cg.path {
			t.Errorf("Paths[%s] = %q, want the init's %q (not the nested child)", ctrl, c.Paths[ctrl], cg.path)
		}
	}
	if c.InitPID != initPID || c.InitStart != initStart {
		t.Errorf("InitPID, InitStart = %d, %d; want %d, %d", c.InitPID, c.InitStart, initPID, initStart)
	}
	ns, err := pidnsInode("/proc", sleepPID)
	if err != nil {
		t.Fatal(err)
	}
	if !samePIDNamespace("/proc") {
		t.Error("samePIDNamespace(/proc) = false in the test's own namespace")
	}
	for name, f := range map[string]initFinder{"ioctl NS_GET_TGID_FROM_PIDNS": &ioctlFinder{procRoot: "/proc"}, "NSpid scan": scanFinder{procRoot: "/proc"}} {
		if got, err := f.findInit(sleepPID, ns); err != nil || got != initPID {
			t.Errorf("%s: findInit(%d) = %d, %v; want %d", name, sleepPID, got, err, initPID)
		}
	}
	tasks, err := r.Tasks(c)
	if err != nil {
		t.Fatal(err)
	}
	// unshare (outside the namespace), sh (its PID 1) and sleep (its PID 2, the highest host PID).
	if tasks.Total != 3 || tasks.LastPID != 2 {
		t.Errorf("Tasks = %+v; want Total 3, LastPID 2 (the sleep, as the namespace numbers it)", tasks)
	}
}

// waitSleeping polls until pid is in state S: a freshly started sleep is briefly running.
func waitSleeping(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if state, _, err := readStat("/proc", pid); err != nil || state == 'S' {
			return
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	t.Fatalf("pid %d not sleeping after 10s", pid)
}

// waitChild polls /proc until parent has a child running comm, and returns its PID.
func waitChild(t *testing.T, parent int, comm string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if pid, ok := findChild(parent, comm); ok {
			return pid
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	t.Fatalf("no child %q of pid %d after 10s", comm, parent)
	return 0
}

func findChild(parent int, comm string) (int, bool) {
	names, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			continue
		}
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		i, j := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
		if i < 0 || j < i {
			continue
		}
		fields := strings.Fields(line[j+1:])
		if len(fields) < 2 || line[i+1:j] != comm || fields[1] != strconv.Itoa(parent) {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(line[:i]))
		if err == nil {
			return pid, true
		}
	}
	return 0, false
}

func TestLiveProcessGone(t *testing.T) {
	requireLiveV1(t)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	r := liveReader(t)
	if _, err := r.Resolve(cmd.Process.Pid); !errors.Is(err, ErrProcessGone) {
		t.Errorf("Resolve(exited pid) = %v, want ErrProcessGone", err)
	}
}

// TestResolveCachedAllocs: a cached Resolve is one read of /proc/<pid>/stat and no allocation.
func TestResolveCachedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	r, err := New(filepath.Join("..", "testdata", "cgroup", "v1-docker"), "/proc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { r.Resolve(os.Getpid()) }); n != 0 {
		t.Errorf("cached Resolve allocates %v times, want 0", n)
	}
}

func BenchmarkResolveCached(b *testing.B) {
	r, err := New(filepath.Join("..", "testdata", "cgroup", "v1-docker"), "/proc")
	if err != nil {
		b.Fatal(err)
	}
	pid := os.Getpid()
	if _, err := r.Resolve(pid); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(pid); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveStatRead is the floor BenchmarkResolveCached is measured against.
func BenchmarkResolveStatRead(b *testing.B) {
	path := fmt.Sprintf("/proc/%d/stat", os.Getpid())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := os.ReadFile(path); err != nil {
			b.Fatal(err)
		}
	}
}

func liveSelf(b *testing.B) (*Reader, *Container) {
	requireLiveV1(b)
	r := liveReader(b)
	c, err := r.Resolve(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	return r, c
}

func BenchmarkMemoryV1(b *testing.B) {
	r, c := liveSelf(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Memory(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCPUV1(b *testing.B) {
	r, c := liveSelf(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.CPU(c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLiveV1NestedMemoryLimit: a process in a nested cgroup whose parent has the smaller memory and
// memsw limits sees the parent's (docs/behaviour.md §2.2: the minimum over the ancestors), read
// from memory.stat's hierarchical limits on this kernel.
func TestLiveV1NestedMemoryLimit(t *testing.T) {
	requireLiveV1(t)
	cg := newLiveCgroup(t)
	cg.mkChild(t)
	mem := cg.dirs["memory"]
	memsw := exists(mem + "/memory.memsw.limit_in_bytes")
	// memsw must be at least the memory limit at every level, so the memory limits go first.
	write(t, mem+"/memory.limit_in_bytes", strconv.Itoa(48<<20))
	write(t, mem+"/child/memory.limit_in_bytes", strconv.Itoa(128<<20))
	if memsw {
		write(t, mem+"/memory.memsw.limit_in_bytes", strconv.Itoa(80<<20))
		write(t, mem+"/child/memory.memsw.limit_in_bytes", strconv.Itoa(256<<20))
	}
	stat, err := os.ReadFile(mem + "/child/memory.stat")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stat), fmt.Sprintf("\nhierarchical_memory_limit %d\n", 48<<20)) {
		t.Errorf("this kernel's memory.stat has no hierarchical_memory_limit of the parent's 48 MiB:\n%s", stat)
	}
	sleep := startSleep(t)
	cg.move(t, sleep.Process.Pid, "/child")
	r := liveReader(t)
	c, err := r.Resolve(sleep.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Memory(c)
	if err != nil {
		t.Fatalf("Memory: %v", err)
	}
	if m.Limit != 48<<20 || m.SwapAccounted != memsw {
		t.Errorf("Memory = %+v; want the parent's Limit %d, SwapAccounted %v", m, 48<<20, memsw)
	}
	if memsw && m.SwapLimit != 32<<20 {
		t.Errorf("SwapLimit = %d, want the parent's memsw − mem = %d", m.SwapLimit, 32<<20)
	}
}
