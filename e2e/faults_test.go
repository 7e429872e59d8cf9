//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReaderExitsDuringOpen has many short-lived processes open daemon files and die at once,
// inside a container and on the host: the daemon must keep answering correctly and not keep
// their file descriptors.
func TestReaderExitsDuringOpen(t *testing.T) {
	h := readHost(t)
	d := startDaemon(t, daemonOptions{})
	l := limits{memory: 256 << 20}
	cg := newCgroup(t, l)
	c := newUnshareContainer(t, d, "A", cg, cg)
	want := expectView(t, h, l)
	checkMemTotal(t, c, want.memTotal)
	fds0 := countFDs(t, d.pid())

	// Each cat is SIGKILLed right after it was forked, mostly while its open or read is in flight.
	mustRun(t, c, "sh", "-c", `for i in $(seq 300); do
		for f in meminfo stat cpuinfo uptime loadavg; do cat /proc/$f >/dev/null 2>&1 & kill -9 $! 2>/dev/null; done
	done; wait; true`)
	// Host callers: the test binary reading in a loop, killed after a few milliseconds each.
	exe := selfExe(t)
	for i := range 100 {
		cmd := helperCommand(exe, "read", d.path(procFiles[i%len(procFiles)]), "1000")
		cmd.Stdout = io.Discard
		if err := startGated(cg, cmd); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(time.Duration(i%7)*time.Millisecond, func() { killGroup(cmd) })
		cmd.Wait()
	}
	d.alive(t)
	checkMemTotal(t, c, want.memTotal)
	checkFDsSettle(t, d, fds0)
}

// TestCgroupRemovedWhileOpen removes a reader's cgroup while it holds a daemon file open: reading
// the open file again must still succeed with a sane meminfo.
func TestCgroupRemovedWhileOpen(t *testing.T) {
	h := readHost(t)
	d := startDaemon(t, daemonOptions{})
	parking := newCgroup(t, limits{})
	l := limits{memory: 256 << 20}
	cg := newCgroup(t, l)
	cmd := helperCommand(selfExe(t), "hold", d.path("proc/meminfo"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := startGated(cg, cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killGroup(cmd); cmd.Wait() })
	r := bufio.NewReader(out)
	first := readUntil(t, r, "@held")
	m := parseMeminfoT(t, first)
	// A caller in the host PID namespace sees its own cgroup (docs/behaviour.md §2.1).
	if m["MemTotal"] != uint64(l.memory) {
		t.Errorf("first read in %s: MemTotal %d, want %d", cg, m["MemTotal"], l.memory)
	}

	if err := parking.add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	cg.remove(t)
	if _, err := os.Stat(cg.dir(cg.procsController())); !os.IsNotExist(err) {
		t.Fatalf("%s still exists (%v)", cg, err)
	}
	cmd.Process.Signal(syscall.SIGUSR1)
	second := readUntil(t, r, "@done")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("reading the open file after its cgroup was removed: %v", err)
	}
	m2 := parseMeminfoT(t, second)
	_, hostKeys, _ := meminfo(readFile(t, "/proc/meminfo"))
	_, keys, _ := meminfo([]byte(second))
	if strings.Join(keys, ",") != strings.Join(hostKeys, ",") {
		t.Errorf("meminfo after the cgroup went: keys %v, want the host's %v", keys, hostKeys)
	}
	if mt := m2["MemTotal"]; mt != uint64(l.memory) && mt != hostCallerMemTotal(t, h) {
		t.Errorf("meminfo after the cgroup went: MemTotal %d, want the old view %d or the host's %d", mt, l.memory, h.memTotal)
	}
	if m2["MemFree"] > m2["MemTotal"] || m2["MemAvailable"] > m2["MemTotal"] {
		t.Errorf("meminfo after the cgroup went: MemFree %d, MemAvailable %d > MemTotal %d", m2["MemFree"], m2["MemAvailable"], m2["MemTotal"])
	}
	d.alive(t)
}

// TestUnreadableCgroup makes a container's memory usage file unreadable garbage (a file
// bind-mounted over it, in a cgroup of this test only): the daemon must answer the host's
// meminfo and log the failure once per container, however often it is read.
func TestUnreadableCgroup(t *testing.T) {
	h := readHost(t)
	d := startDaemon(t, daemonOptions{})
	garbage := t.TempDir() + "/garbage"
	if err := os.WriteFile(garbage, []byte("not a number\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var cgs []*cgroup
	for range 2 {
		cg := newCgroup(t, limits{memory: 256 << 20})
		target := cg.memoryUsageFile()
		if err := syscall.Mount(garbage, target, "", syscall.MS_BIND, ""); err != nil {
			t.Fatalf("bind-mount garbage over %s: %v", target, err)
		}
		t.Cleanup(func() {
			if err := syscall.Unmount(target, 0); err != nil {
				t.Errorf("unmount %s: %v", target, err)
			}
		})
		cgs = append(cgs, cg)
	}
	for round := range 3 {
		for _, cg := range cgs {
			c := newUnshareContainer(t, d, fmt.Sprintf("%s#%d", cg.path, round), cg, cg)
			out := mustRun(t, c, "sh", "-c", "for i in 1 2 3 4 5; do cat /proc/meminfo; done")
			m := parseMeminfoT(t, firstMeminfo(out))
			if m["MemTotal"] != h.memTotal {
				t.Errorf("%s: MemTotal %d with an unreadable usage, want the host's %d", c, m["MemTotal"], h.memTotal)
			}
		}
	}
	d.alive(t)
	// Poll briefly: a log line may trail the read that caused it.
	for _, cg := range cgs {
		poll(t, 3*time.Second, "log line for "+cg.path, func() error {
			if n := countLogLines(d, cg.path); n != 1 {
				return notYet("%d warning/error log lines mention %s, want exactly 1", n, cg.path)
			}
			return nil
		})
	}
	for _, cg := range cgs {
		if n := countLogLines(d, cg.path); n != 1 {
			t.Errorf("%d warning/error log lines mention %s, want exactly 1; log:\n%s", n, cg.path, d.stderr)
		}
	}
	t.Logf("daemon log:\n%s", d.stderr)
}

// countLogLines counts the daemon's JSON log lines at warn level or above that mention s.
func countLogLines(d *daemon, s string) int {
	n := 0
	for _, l := range d.logLines() {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) != nil {
			continue
		}
		switch rec["level"] {
		case "warn", "error", "dpanic", "panic", "fatal":
			if strings.Contains(l, s) {
				n++
			}
		}
	}
	return n
}

func firstMeminfo(out string) string {
	if i := strings.Index(out[1:], "MemTotal:"); i >= 0 {
		return out[:i+1]
	}
	return out
}

func readUntil(t *testing.T, r *bufio.Reader, marker string) string {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var sb strings.Builder
		for {
			line, err := r.ReadString('\n')
			if strings.TrimSpace(line) == marker {
				ch <- result{sb.String(), nil}
				return
			}
			sb.WriteString(line)
			if err != nil {
				ch <- result{sb.String(), err}
				return
			}
		}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("helper output ended before %s: %v\n%s", marker, res.err, res.s)
		}
		return res.s
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s from the helper within 20s", marker)
		return ""
	}
}

func parseMeminfoT(t testing.TB, s string) map[string]uint64 {
	t.Helper()
	m, _, err := meminfo([]byte(s))
	if err != nil {
		t.Fatalf("%v in:\n%s", err, s)
	}
	return m
}

func checkMemTotal(t *testing.T, c container, want uint64) {
	t.Helper()
	out := mustRun(t, c, "grep", "MemTotal", "/proc/meminfo")
	f := strings.Fields(out)
	if len(f) < 2 || f[1] != strconv.FormatUint(want/1024, 10) {
		t.Errorf("%s: %q, want MemTotal %d kB", c, strings.TrimSpace(out), want/1024)
	}
}

func countFDs(t testing.TB, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func threads(t testing.TB, pid int) int {
	t.Helper()
	for _, l := range strings.Split(string(readFile(t, fmt.Sprintf("/proc/%d/status", pid))), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads line")
	return 0
}

// checkFDsSettle waits for the daemon's open fds to come back to at most base.
func checkFDsSettle(t *testing.T, d *daemon, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := countFDs(t, d.pid())
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("daemon has %d open fds, %d before the load, still after 10s", n, base)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
