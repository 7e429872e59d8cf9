//go:build e2e

package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// firstRead is a container's first look at its CPU and load figures, in one shell.
type firstRead struct {
	cpu  []cpuLine
	up   float64 // /proc/uptime, read right after /proc/stat
	load loadavgLine
}

func readFirst(t *testing.T, c container) firstRead {
	t.Helper()
	out := mustRun(t, c, "sh", "-c", "cat /proc/stat; echo @; cat /proc/uptime; echo @; cat /proc/loadavg")
	parts := strings.Split(out, "@\n")
	if len(parts) != 3 {
		t.Fatalf("%s: output %q", c, out)
	}
	var r firstRead
	var err error
	if r.cpu, err = parseStat([]byte(parts[0])); err != nil {
		t.Fatal(err)
	}
	if err := checkStatShapeLines(r.cpu, len(r.cpu)-1); err != nil {
		t.Error(err)
	}
	if _, err := fmt.Sscan(parts[1], &r.up); err != nil {
		t.Fatalf("%s: /proc/uptime %q: %v", c, parts[1], err)
	}
	if r.load, err = parseLoadavg([]byte(parts[2])); err != nil {
		t.Fatal(err)
	}
	return r
}

// checkOwnClock: every CPU line of a container's first /proc/stat totals its uptime × USER_HZ
// (SPEC §2.3), read just after; 5% and 5 ticks allow for the time between the two reads.
func checkOwnClock(t *testing.T, who string, r firstRead) {
	t.Helper()
	want := r.up * userHZ
	for _, l := range r.cpu[1:] {
		if got := float64(l.total()); math.Abs(got-want) > 0.05*want+5 {
			t.Errorf("%s: %s totals %.0f ticks (%v) at an uptime of %.2f s, want %.0f", who, l.name, got, l.fields, r.up, want)
		}
	}
}

// killInit ends an unshare container: its init's death takes every process of its PID
// namespace with it. It waits until the init is gone.
func killInit(t *testing.T, c *unshareContainer) {
	t.Helper()
	if err := syscall.Kill(c.init, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, c.name+": init gone", func() error {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", c.init)); err == nil {
			return notYet("pid %d still there", c.init)
		}
		return nil
	})
}

// TestRestartedContainerStartsAfresh: `docker restart` keeps the cgroup path and starts a new
// init. The new container's first /proc/stat counts from its own start, not the old one's,
// and its load averages from its own count; the same after the daemon itself restarted from
// its saved history while the container was replaced.
func TestRestartedContainerStartsAfresh(t *testing.T) {
	h := startHoDaemon(t, true)
	cg := newCgroup(t, limits{memory: 256 << 20})
	old := newUnshareContainer(t, h.daemon, "old", cg, cg)
	for range 2 {
		background(t, old, "sh", "-c", "while :; do :; done")
	}
	// Two busy loops: the old container's averages start near 2 and stay there.
	first := readFirst(t, old)
	if first.load.avg[2] < 1.9 {
		t.Fatalf("old container's first loadavg %q, want its count of at least 2 running threads", first.load.text)
	}
	poll(t, 30*time.Second, "old container busy for 3 s", func() error {
		r := readFirst(t, old)
		if r.cpu[0].busy() < 300 {
			return notYet("busy %d ticks", r.cpu[0].busy())
		}
		return nil
	})
	killInit(t, old)

	// The cgroup stays, as under a `docker restart` with a kept cgroup: it still counts the
	// old container's CPU time.
	next := newUnshareContainer(t, h.daemon, "new", cg, cg)
	r := readFirst(t, next)
	checkOwnClock(t, "new container", r)
	if r.load.avg[2] > 1.5 {
		t.Errorf("new container's first loadavg %q: carried over from the old container's %q", r.load.text, first.load.text)
	}

	// The daemon saves its history (every --loadavg-interval) with the new container in it,
	// then crashes; the container is replaced before its successor serves.
	readAt := time.Now()
	poll(t, 10*time.Second, "history saved", func() error {
		fi, err := os.Stat(filepath.Join(h.state, "history.json"))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(h.state, "history.json"))
		if err != nil {
			return err
		}
		if fi.ModTime().Before(readAt) || !strings.Contains(string(b), `"InitPID":`+strconv.Itoa(next.init)+",") {
			return notYet("history.json of %v has no entry for init %d", fi.ModTime(), next.init)
		}
		return nil
	})
	for range 2 {
		background(t, next, "sh", "-c", "while :; do :; done")
	}
	poll(t, 30*time.Second, "new container busy for 1 s", func() error {
		if r := readFirst(t, next); r.cpu[0].busy() < 100 {
			return notYet("busy %d ticks", r.cpu[0].busy())
		}
		return nil
	})
	ready, err := h.ready()
	if err != nil {
		t.Fatal(err)
	}
	killInit(t, next)
	if err := syscall.Kill(ready.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	third := newUnshareContainer(t, h.daemon, "third", cg, cg)
	h.waitReadyChange(t, ready, "restart after kill")
	r = readFirst(t, third)
	checkOwnClock(t, "container after the daemon's restart", r)
	if r.load.avg[2] > 1.5 {
		t.Errorf("third container's first loadavg %q: carried over", r.load.text)
	}
}
