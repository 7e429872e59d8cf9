package fs

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"procfsd/cgroupview"
	"procfsd/history"
	"procfsd/internal/fixture"
	"procfsd/proc"
)

// TestHostRootContainerSeesHostLoad: a container whose threads are counted in the root cpu
// cgroup (a memory cgroup of its own, the cpu root: a host service on a v1 node without CPU
// accounting) has every thread of the host. Its loadavg is the host's file, byte for byte, and
// /proc/stat's procs lines are the host's; nothing counts the host's threads one by one, now or
// in the sampler (docs/behaviour.md §2.4).
func TestHostRootContainerSeesHostLoad(t *testing.T) {
	const procRoot = "../testdata/hosts/debian12-2cpu/proc"
	cg := fixture.CopyTree(t, "../testdata/cgroup/v1-docker")
	if err := os.WriteFile(cg+"/cpu,cpuacct/cpuacct.usage", []byte("123456789\n"), 0o644); err != nil {
		t.Fatal(err) // the fixture's root has no run time of its own
	}
	srv, err := New(Config{ProcRoot: procRoot, CgroupRoot: cg, StatsIsolated: true,
		LoadavgInterval: 5 * time.Second, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c := &cgroupview.Container{ID: "/svc", Paths: map[string]string{
		"memory": "/svc", "cpu": "/", "cpuacct": "/", "cpuset": "/", "pids": "/", "blkio": "/"}}
	st := srv.history.Get(c)
	want, err := os.ReadFile(procRoot + "/loadavg")
	if err != nil {
		t.Fatal(err)
	}
	if got := renderForTest(t, srv, c, "proc/loadavg"); got != string(want) {
		t.Errorf("loadavg = %q, want the host's %q", got, want)
	}
	stat := renderForTest(t, srv, c, "proc/stat")
	for _, line := range []string{"\nprocs_running 1\n", "\nprocs_blocked 0\n"} { // the fixture host's
		if !strings.Contains(stat, line) {
			t.Errorf("stat has no %q:\n%s", line[1:], stat)
		}
	}
	if st.HasLoad() {
		t.Error("the host-root container has load averages of its own: the sampler would count every host thread")
	}
	// Nor from a history an older version saved with averages for it.
	srv.history.Import(history.History{Containers: []history.ContainerHistory{{Container: *c, LastRead: time.Now(),
		Load: &proc.LoadavgState{Avenrun: [3]uint64{2048, 2048, 2048}}}}})
	if st := srv.history.Get(c); st.HasLoad() {
		t.Error("load averages imported for the host-root container: the sampler would count every host thread")
	}
	// The same cgroups seen from a PID namespace of its own: counted, since the newest PID it
	// sees is its namespace's, not the host's.
	c.InitPID = 1234
	if srv.cgroups.AtHostRoot(c) {
		t.Error("AtHostRoot true for a caller with a PID namespace of its own")
	}
}
