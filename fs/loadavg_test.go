package fs

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"procfsd/cgroupview"
	"procfsd/history"
	"procfsd/internal/fixture"
	"procfsd/proc"
)

// renderForTest renders the tree's file at path (e.g. "proc/loadavg") for c.
func renderForTest(t *testing.T, srv *Server, c *cgroupview.Container, path string) string {
	t.Helper()
	for _, n := range srv.tree.byID {
		if n.path == path {
			var buf bytes.Buffer
			if err := srv.renderSafely(n, c, srv.history.Get(c), &buf); err != nil {
				t.Fatalf("render %s: %v", path, err)
			}
			return buf.String()
		}
	}
	t.Fatalf("no %s in the tree", path)
	return ""
}

// TestLoadavgServesTheSamplersCount: loadavg's running count is the load sampler's last one
// while it is at most two intervals old, and a count of every thread's state otherwise (before
// the first sample, or when the sampler has fallen behind). The total and the newest PID are
// read at each render in both cases.
func TestLoadavgServesTheSamplersCount(t *testing.T) {
	const id = "/docker/3f2a9c1e7b5d"
	const interval = 5 * time.Second
	// The fixture container lists 1000, 1001 (D, in a child cgroup), 1002 (R) and 1003 (gone);
	// the newest live thread, 1002, is PID 2 in its namespace.
	srv, err := New(Config{ProcRoot: fixture.CopyTree(t, "../testdata/proc-pids/v1-docker"),
		CgroupRoot: fixture.CopyTree(t, "../testdata/cgroup/v1-docker"), StatsIsolated: true,
		LoadavgInterval: interval, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c := &cgroupview.Container{ID: id, InitPID: 1000, InitStart: 1, Paths: map[string]string{
		"memory": id, "cpu": id, "cpuacct": id, "cpuset": id, "pids": id, "blkio": id}}
	st := srv.history.Get(c)

	// First read: no sample yet, so every thread's state is read: 1 running of the 3 alive,
	// and the averages start at running + blocked.
	if got, want := renderForTest(t, srv, c, "proc/loadavg"), "2.00 2.00 2.00 1/3 2\n"; got != want {
		t.Errorf("before any sample: %q, want %q", got, want)
	}
	// A sample with 3 running: served as is (the total counts the 4 listed threads).
	st.SampleLoad(cgroupview.Activity{Running: 3, Blocked: 1}, time.Now())
	srv.cache = renderCache{} // a new render, not the cached thread counts
	if got, want := renderForTest(t, srv, c, "proc/loadavg"), fmt.Sprintf("%s 3/4 2\n", averages(st)); got != want {
		t.Errorf("after a sample of 3 running: %q, want %q", got, want)
	}
	// More running than listed threads (threads exited since the sample): capped at the total.
	st.SampleLoad(cgroupview.Activity{Running: 9}, time.Now())
	srv.cache = renderCache{}
	if got, want := renderForTest(t, srv, c, "proc/loadavg"), fmt.Sprintf("%s 4/4 2\n", averages(st)); got != want {
		t.Errorf("after a sample of 9 running: %q, want %q", got, want)
	}
	// A sample over two intervals old: counted afresh.
	st.SampleLoad(cgroupview.Activity{Running: 3}, time.Now().Add(-2*interval-time.Second))
	srv.cache = renderCache{}
	if got, want := renderForTest(t, srv, c, "proc/loadavg"), fmt.Sprintf("%s 1/3 2\n", averages(st)); got != want {
		t.Errorf("with a sample older than two intervals: %q, want %q", got, want)
	}
}

// averages is the first three fields of loadavg for st's current averages.
func averages(st *history.State) string {
	l := st.Loadavg(cgroupview.Tasks{}, time.Second)
	var buf bytes.Buffer
	proc.RenderLoadavg(&buf, l, cgroupview.Tasks{})
	b := buf.Bytes()
	return string(b[:len(b)-len(" 0/0 0\n")])
}
