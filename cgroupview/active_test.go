package cgroupview

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// setState rewrites the state (field 3) of <proc>/<tid>/stat.
func setState(t *testing.T, proc, tid string, state byte) {
	t.Helper()
	path := filepath.Join(proc, tid, "stat")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		t.Fatalf("%s: no state after comm: %q", path, b)
	}
	b[i+2] = state
	writeFile(t, path, string(b))
}

// TestActiveSinceFixture: ActiveSince skips an idle container only while its run time stands
// still, counts it in full at least every maxIdleSkips+1 calls, and never skips a container
// whose run time lives in another cgroup than its threads.
func TestActiveSinceFixture(t *testing.T) {
	cg := copyTree(t, filepath.Join("..", "testdata", "cgroup", "v1-docker"))
	proc := copyTree(t, filepath.Join("..", "testdata", "proc-pids", "v1-docker"))
	for _, tid := range []string{"1000", "1001", "1002"} { // the container's threads (1003 is gone)
		setState(t, proc, tid, 'S')
	}
	r, err := New(cg, proc)
	if err != nil {
		t.Fatal(err)
	}
	usage := filepath.Join(cg, "cpu,cpuacct", dockerID, "cpuacct.usage")
	c := &Container{ID: dockerID, Paths: v1Paths(dockerID)}
	var p IdleProof
	step := 0
	idle, running, blocked := Activity{}, Activity{Running: 1}, Activity{Blocked: 1}
	expect := func(want Activity, wantCounted bool) {
		t.Helper()
		step++
		a, counted, err := r.ActiveSince(c, &p)
		if err != nil || a != want || counted != wantCounted {
			t.Errorf("call %d: %+v, counted %v, %v; want %+v, %v", step, a, counted, err, want, wantCounted)
		}
	}
	// The first count has no run time from before it; the second reads one; then idle calls are
	// skipped, with a full count every maxIdleSkips+1 calls.
	expect(idle, true)
	expect(idle, true)
	for range 2 {
		for range maxIdleSkips {
			expect(idle, false)
		}
		expect(idle, true)
	}
	// A thread ran and is runnable: its run time moved, so the next call counts and finds it.
	setState(t, proc, "1002", 'R')
	writeFile(t, usage, "6400001000\n")
	expect(running, true)
	// A busy container is counted every time.
	expect(running, true)
	expect(running, true)
	// Idle again: counted until a run time read before an idle count matches.
	setState(t, proc, "1002", 'S')
	expect(idle, true)
	expect(idle, true)
	expect(idle, false)
	// A thread in the nested cgroup blocks after running.
	setState(t, proc, "1001", 'D')
	writeFile(t, usage, "6400002000\n")
	expect(blocked, true)

	// Threads in cpu:/docker/3f2a9c1e7b5d, run time kept in cpuacct:/docker/old: the run time
	// says nothing about these threads, so every call counts.
	setState(t, proc, "1001", 'S')
	other := &Container{ID: dockerID, Paths: v1Paths(dockerID)}
	other.Paths["cpuacct"] = "/docker/old"
	if _, err := r.runTime(other); !errors.Is(err, ErrNoData) {
		t.Errorf("runTime with cpuacct elsewhere: %v, want ErrNoData", err)
	}
	var q IdleProof
	for i := range maxIdleSkips + 2 {
		if a, counted, err := r.ActiveSince(other, &q); err != nil || a != (Activity{}) || !counted {
			t.Errorf("cpuacct elsewhere, call %d: %+v, counted %v, %v; want none, true", i+1, a, counted, err)
		}
	}
}

// TestRunTimeV2: v2 keeps the run time in cpu.stat's usage_usec.
func TestRunTimeV2(t *testing.T) {
	r := fixtureReader(t, "v2-k8s")
	got, err := r.runTime(&Container{ID: k8sApp, Paths: map[string]string{"": k8sApp}})
	if err != nil || got != 3500000*1000 {
		t.Errorf("runTime = %d, %v; want 3500000000 ns (usage_usec 3500000)", got, err)
	}
}

// TestLiveActiveSince checks the kernel behaviour ActiveSince relies on: a sleeping process
// charges no CPU time, so its container is skipped; a process that starts running moves the
// run time, and the next call counts it.
func TestLiveActiveSince(t *testing.T) {
	requireLiveV1(t)
	cg := newLiveCgroup(t)
	sleep := startSleep(t)
	cg.move(t, sleep.Process.Pid, "")
	waitSleeping(t, sleep.Process.Pid)
	r := liveReader(t)
	c, err := r.Resolve(sleep.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var p IdleProof
	for i, want := range []bool{true, true, false, false} {
		a, counted, err := r.ActiveSince(c, &p)
		if err != nil || a != (Activity{}) || counted != want {
			t.Fatalf("sleeping container, call %d: %+v, counted %v, %v; want none, %v", i+1, a, counted, err, want)
		}
	}
	burner := exec.Command("sh", "-c", "while :; do :; done")
	if err := burner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { burner.Process.Kill(); burner.Wait() })
	before := readLiveUint(t, cg.dirs["cpuacct"]+"/cpuacct.usage")
	cg.move(t, burner.Process.Pid, "")
	// Once the kernel has charged the burner's time to the cgroup (at its next tick or switch),
	// the next call must count, and find it.
	deadline := time.Now().Add(10 * time.Second)
	for readLiveUint(t, cg.dirs["cpuacct"]+"/cpuacct.usage") == before {
		if time.Now().After(deadline) {
			t.Fatal("no CPU time charged to the burner's cgroup after 10s")
		}
		time.Sleep(time.Millisecond) // polling for the kernel to charge the burner, with a deadline
	}
	if a, counted, err := r.ActiveSince(c, &p); err != nil || a != (Activity{Running: 1}) || !counted {
		t.Errorf("after the burner ran: %+v, counted %v, %v; want 1 running, true", a, counted, err)
	}
}
