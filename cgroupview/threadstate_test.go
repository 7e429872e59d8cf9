package cgroupview

import (
	"os"
	"path/filepath"
	"testing"
)

// TestActiveReadsEachThreadsOwnStat: on a procfs (one with self/task) a thread's state comes
// from <tid>/task/<tid>/stat, the thread's own entry; <tid>/stat is its thread group's,
// whose counters the kernel sums over every thread of the group at each read.
func TestActiveReadsEachThreadsOwnStat(t *testing.T) {
	cg := copyTree(t, filepath.Join("..", "testdata", "cgroup", "v1-docker"))
	proc := copyTree(t, filepath.Join("..", "testdata", "proc-pids", "v1-docker"))
	if err := os.MkdirAll(filepath.Join(proc, "self", "task"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The group views say sleeping; the threads' own entries say 1001 runs and 1002 waits on
	// I/O (1000's entry is missing: it exited).
	for _, tid := range []string{"1000", "1001", "1002"} {
		setState(t, proc, tid, 'S')
	}
	for tid, state := range map[string]string{"1001": "R", "1002": "D"} {
		b, err := os.ReadFile(filepath.Join(proc, tid, "stat"))
		if err != nil {
			t.Fatal(err)
		}
		own := filepath.Join(proc, tid, "task", tid)
		if err := os.MkdirAll(own, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(own, "stat"), string(b))
		setState(t, proc, filepath.Join(tid, "task", tid), state[0])
	}
	r, err := New(cg, proc)
	if err != nil {
		t.Fatal(err)
	}
	a, err := r.Active(&Container{ID: dockerID, Paths: v1Paths(dockerID)})
	if err != nil || a != (Activity{Running: 1, Blocked: 1}) {
		t.Errorf("Active = %+v, %v; want one running and one blocked thread from their own entries", a, err)
	}
}
