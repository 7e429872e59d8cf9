//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// maxDaemonHWM is the peak RSS a daemon may reach in these tests: a few tens of MiB serve them,
// and any of the files below read whole would take it past 100 MiB (or without end).
const maxDaemonHWM = 200 << 20

// TestBoundsDockerConfig: a container's Docker config.v2.json that is a symlink to /dev/zero, a
// FIFO, or valid JSON padded to 100 MiB (read whole, its label would opt the container out) is
// refused: the daemon stays small, logs one line per container and serves each container its own
// view. A good config.v2.json with the opt-out label, in the same fake data root, shows that the
// daemon does read it (docs/behaviour.md §3: --docker-root, the container ID from the cgroup path).
func TestBoundsDockerConfig(t *testing.T) {
	h := readHost(t)
	// The daemon runs under a memory limit, so that a daemon without the bound (reading /dev/zero
	// until the OOM killer comes) fails this test rather than the machine. Created before the daemon,
	// it is removed after the daemon's stop.
	guard := newCgroup(t, limits{memory: 512 << 20})
	dataRoot := t.TempDir()
	mnt, state := switchDirs(t)
	d := startCtlDaemon(t, mnt, state, "--docker-root", dataRoot)
	if err := guard.add(d.pid()); err != nil {
		t.Fatal(err)
	}
	parent := newCgroup(t, limits{})
	l := limits{memory: 256 << 20}
	label := func(id string) []byte {
		return []byte(`{"ID":"` + id + `","Config":{"Labels":{"` + optOutKey + `":"0"}}}`)
	}
	cases := []struct {
		name     string
		make     func(t *testing.T, path, id string)
		broken   bool
		memTotal uint64
	}{
		{"label", func(t *testing.T, path, id string) {
			writeFileT(t, path, label(id))
		}, false, h.memTotal},
		{"devzero", func(t *testing.T, path, id string) {
			if err := os.Symlink("/dev/zero", path); err != nil {
				t.Fatal(err)
			}
		}, true, expectView(t, h, l).memTotal},
		{"fifo", func(t *testing.T, path, id string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			// A reader blocked in open (a daemon without the bound) is let go, so the daemon can stop.
			t.Cleanup(func() {
				if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
			})
		}, true, expectView(t, h, l).memTotal},
		{"huge", func(t *testing.T, path, id string) {
			writePadded(t, path, 100<<20, label(id))
		}, true, expectView(t, h, l).memTotal},
	}
	type made struct {
		id string
		c  *unshareContainer
	}
	var containers []made
	for _, tc := range cases {
		id := dockerLikeID(t)
		dir := filepath.Join(dataRoot, "containers", id)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		tc.make(t, filepath.Join(dir, "config.v2.json"), id)
		cg := parent.child(t, id, l)
		containers = append(containers, made{id, newUnshareContainer(t, d.daemon, tc.name, cg, cg)})
	}
	for i, tc := range cases {
		pollMemTotal(t, containers[i].c, tc.memTotal)
	}
	// Read again: the answer stays, and the failure was logged once, not per read.
	for i, tc := range cases {
		checkMemTotal(t, containers[i].c, tc.memTotal)
		want := 0
		if tc.broken {
			want = 1
		}
		poll(t, 3*time.Second, tc.name+": log lines", func() error {
			if n := countLogLines(d.daemon, containers[i].id); n != want {
				return notYet("%d warning/error lines mention container %s, want %d", n, containers[i].id, want)
			}
			return nil
		})
	}
	d.alive(t)
	checkHWM(t, d.pid())
	for _, l := range d.logLines() {
		if strings.Contains(l, "config.v2.json") {
			t.Logf("daemon: %s", l)
		}
	}
}

// TestBoundsSwitchesFile: a switches.json of 100 MiB (valid JSON padded with blanks, whose
// host switch is 0) is over its bound: one log line, the file set aside, the defaults (host
// switch 1), a small daemon that serves a container its view.
func TestBoundsSwitchesFile(t *testing.T) {
	h := readHost(t)
	mnt, state := switchDirs(t)
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	writePadded(t, filepath.Join(state, "switches.json"), 100<<20,
		[]byte(`{"version":1,"stats_isolated":false,"containers":[]}`))
	d := startCtlDaemon(t, mnt, state)
	if got := strings.TrimSpace(string(readFile(t, filepath.Join(mnt, "proc/sys/kernel/stats_isolated")))); got != "1" {
		t.Errorf("stats_isolated %q after an oversized switches.json, want the default 1", got)
	}
	if n := countLogLines(d.daemon, "switches.json"); n != 1 {
		t.Errorf("%d warning/error lines mention switches.json, want 1:\n%s", n, d.stderr)
	}
	if aside, _ := filepath.Glob(filepath.Join(state, "switches.json.corrupt-*")); len(aside) != 1 {
		t.Errorf("set-aside files %v, want one", aside)
	}
	l := limits{memory: 256 << 20}
	cg := newCgroup(t, l)
	c := newUnshareContainer(t, d.daemon, "switches", cg, cg)
	pollMemTotal(t, c, expectView(t, h, l).memTotal)
	d.alive(t)
	checkHWM(t, d.pid())
}

// TestBoundsHistoryCorruptJournalKept: a server killed while history.json is corrupt (and the clock
// journal is whole) is restarted by its supervisor; a container's /proc/stat continues from the
// journal and no cpu counter goes back (docs/behaviour.md §2.3). The container's cpuset shrinks
// from two CPUs to one while the server is down, so that a successor that started its model afresh
// would show the aggregate idle of one CPU only: hundreds of ticks less than it had shown.
func TestBoundsHistoryCorruptJournalKept(t *testing.T) {
	if h := readHost(t); h.cpus < 2 {
		t.Fatalf("this test shrinks a cpuset from two CPUs to one; the host has %d", h.cpus)
	}
	ho := startHoDaemon(t, true)
	cg := newCgroup(t, limits{memory: 256 << 20, cpus: "0-1"})
	c := newUnshareContainer(t, ho.daemon, "history", cg, cg)
	// Let the idle counters grow well beyond what the restart takes.
	poll(t, 30*time.Second, "container uptime 5 s", func() error {
		out, err := run(c, "cat", "/proc/uptime")
		if err != nil {
			return err
		}
		f := strings.Fields(out)
		if len(f) == 0 {
			return notYet("uptime %q", out)
		}
		if up, err := strconv.ParseFloat(f[0], 64); err != nil || up < 5 {
			return notYet("uptime %q", out)
		}
		return nil
	})
	before := containerStat(t, c, 2)

	r, err := ho.ready()
	if err != nil {
		t.Fatal(err)
	}
	// Stopped, the server can neither save history.json over the corrupt one nor render.
	if err := syscall.Kill(r.pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "server stopped", func() error {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.pid))
		if err != nil {
			return err
		}
		if i := bytes.LastIndexByte(b, ')'); i < 0 || len(b) < i+3 || b[i+2] != 'T' {
			return notYet("state %q", b)
		}
		return nil
	})
	writeFileT(t, filepath.Join(ho.state, "history.json"), []byte(`{"saved":"2026-01-01T00:00:00Z","containers":[{"cont`))
	if err := cg.setCPU("0", 0); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(r.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ho.waitReadyChange(t, r, "restart after kill")
	after := containerStat(t, c, 1)

	names := []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}
	for i, name := range names {
		if after[i] < before[i] {
			t.Errorf("stat cpu %s went back across the restart: %d then %d", name, before[i], after[i])
		}
	}
	t.Logf("cpu line before the kill %v, after the restart %v", before[:8], after[:8])
	if n := countLogLines(ho.daemon, "history.json"); n != 1 {
		t.Errorf("%d warning/error lines mention history.json, want 1 (the successor read the corrupt file)", n)
	}
	ho.alive(t)
}

// containerStat reads c's /proc/stat and returns the aggregate cpu line's fields, checking that
// it shows cpus CPU lines.
func containerStat(t *testing.T, c container, cpus int) []uint64 {
	t.Helper()
	out, err := run(c, "cat", "/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := parseStat([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(lines)-1 != cpus || len(lines[0].fields) < 8 {
		t.Fatalf("%s: stat with %d CPU lines (want %d):\n%s", c, len(lines)-1, cpus, out)
	}
	return lines[0].fields
}

// dockerLikeID returns a random 64-hex-digit ID, the form Docker gives containers.
func dockerLikeID(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeFileT(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writePadded writes n blanks then tail: valid JSON as large as asked.
func writePadded(t *testing.T, path string, n int, tail []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	blanks := bytes.Repeat([]byte{' '}, 1<<20)
	for n > 0 {
		k := min(n, len(blanks))
		w.Write(blanks[:k])
		n -= k
	}
	w.Write(tail)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkHWM checks the daemon's peak resident size (VmHWM in /proc/<pid>/status).
func checkHWM(t *testing.T, pid int) {
	t.Helper()
	for _, line := range strings.Split(string(readFile(t, fmt.Sprintf("/proc/%d/status", pid))), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatalf("status line %q: %v", line, err)
			}
			t.Logf("daemon peak RSS %d MiB", kb>>10)
			if kb<<10 > maxDaemonHWM {
				t.Errorf("daemon peak RSS %d MiB, want below %d MiB", kb>>10, maxDaemonHWM>>20)
			}
			return
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
}
