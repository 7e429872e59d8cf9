//go:build e2e

package e2e

import (
	"testing"
	"time"
)

// TestStatAcrossLimitChange changes a busy container's quota and cpuset while a poller reads
// /proc/stat inside it: the CPU lines follow the new limits, and no counter of the aggregate or
// of a CPU line that stays ever goes backwards (docs/behaviour.md §2.3).
func TestStatAcrossLimitChange(t *testing.T) {
	h := readHost(t)
	d := startDaemon(t, daemonOptions{})
	l := limits{memory: 512 << 20, cpus: "0-1", quota: 0.5}
	cg := newCgroup(t, l)
	c := newUnshareContainer(t, d, "C", cg, cg)
	background(t, c, "sh", "-c", "while :; do :; done")
	poll, stop := startPoller(t, c, cg.cpuUsageFile(), cg.v2 != nil)
	defer stop()

	var prev []cpuLine
	n := 0
	sample := func() statSample {
		t.Helper()
		s := poll()
		n++
		if prev != nil {
			if err := monotonic(prev, s.cpu); err != nil {
				t.Errorf("/proc/stat went backwards at read %d: %v", n, err)
			}
		}
		if err := checkStatShapeLines(s.cpu, len(s.cpu)-1); err != nil {
			t.Errorf("read %d: %v", n, err)
		}
		prev = s.cpu
		return s
	}
	// settle waits until /proc/stat shows the CPU count the limits give, then takes a few reads.
	settle := func(cpus string, quota float64) {
		t.Helper()
		if err := cg.setCPU(cpus, quota); err != nil {
			t.Fatal(err)
		}
		want := expectView(t, h, cg.limits).cpus
		deadline := time.Now().Add(10 * time.Second)
		for s := sample(); len(s.cpu)-1 != want; s = sample() {
			if time.Now().After(deadline) {
				t.Fatalf("cpuset %s quota %.1f: /proc/stat still has %d CPU lines after 10s, want %d", cpus, quota, len(s.cpu)-1, want)
			}
		}
		for range 5 {
			sample()
		}
		t.Logf("cpuset %s, quota %.1f: %d CPU lines, last aggregate %v", cpus, quota, want, prev[0].fields[:4])
	}
	settle("0-1", 0.5)
	settle("0-1", 1.5)
	settle("0", 1.5)
	settle("0-1", 0)
	settle("1", 0.5)
	if n < 25 {
		t.Errorf("only %d reads", n)
	}
	d.alive(t)
}
