//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// firstRead is a container's look at its CPU and load figures, in one shell.
type firstRead struct {
	cpu      []cpuLine
	up0, up1 float64 // /proc/uptime, read right before and right after /proc/stat
	load     loadavgLine
}

func readFirst(t *testing.T, c container) firstRead {
	t.Helper()
	out := mustRun(t, c, "sh", "-c", "cat /proc/uptime; echo @; cat /proc/stat; echo @; cat /proc/uptime; echo @; cat /proc/loadavg")
	parts := strings.Split(out, "@\n")
	if len(parts) != 4 {
		t.Fatalf("%s: output %q", c, out)
	}
	var r firstRead
	var err error
	if r.cpu, err = parseStat([]byte(parts[1])); err != nil {
		t.Fatal(err)
	}
	if err := checkStatShapeLines(r.cpu, len(r.cpu)-1); err != nil {
		t.Error(err)
	}
	for i, up := range []*float64{&r.up0, &r.up1} {
		if _, err := fmt.Sscan(parts[2*i], up); err != nil {
			t.Fatalf("%s: /proc/uptime %q: %v", c, parts[2*i], err)
		}
	}
	if r.load, err = parseLoadavg([]byte(parts[3])); err != nil {
		t.Fatal(err)
	}
	return r
}

// checkOwnClock: every CPU line of a container's first /proc/stat totals its uptime × USER_HZ
// (docs/behaviour.md §2.3), between the uptimes read right before and right after it; 5% and 2
// ticks allow for rounding (uptime prints hundredths, the lines whole ticks).
func checkOwnClock(t *testing.T, who string, r firstRead) {
	t.Helper()
	lo, hi := r.up0*userHZ, r.up1*userHZ
	for _, l := range r.cpu[1:] {
		if got := float64(l.total()); got < 0.95*lo-2 || got > 1.05*hi+2 {
			t.Errorf("%s: %s totals %.0f ticks (%v) at an uptime of %.2f to %.2f s, want %.0f to %.0f",
				who, l.name, got, l.fields, r.up0, r.up1, lo, hi)
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

// helperThreads starts N threads that sleep until killed, prints "ready" once the process has
// them all, and waits.
func helperThreads(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: threads N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	debug.SetMaxThreads(n + 1000)
	for range n {
		go func() {
			// Locked to its thread and blocked in a system call: each goroutine holds a
			// thread of its own, asleep (state S).
			runtime.LockOSThread()
			for {
				syscall.Syscall(syscall.SYS_PAUSE, 0, 0, 0)
			}
		}()
	}
	for {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		if len(ents) >= n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("ready")
	select {}
}

// cpuTicks is a process's user plus system time, in USER_HZ ticks (proc(5) fields 14, 15).
func cpuTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b := readFile(t, fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return utime + stime
}

// samplerStatus runs `procfsd status -o json` against h and returns its load sampler part.
func samplerStatus(t *testing.T, h *hoDaemon) (sampler struct {
	BudgetPercent float64 `json:"budget_percent"`
	CostPercent   float64 `json:"cost_percent"`
	SampledLess   []struct {
		Container string `json:"container"`
		Every     int    `json:"every"`
	} `json:"sampled_less"`
}) {
	t.Helper()
	out, err := exec.Command(h.bin, "status", "-o", "json", "--state-dir", h.state).Output()
	if err != nil {
		t.Fatalf("procfsd status: %v", err)
	}
	var st struct {
		LoadSampler *json.RawMessage `json:"load_sampler"`
	}
	if err := json.Unmarshal(out, &st); err != nil || st.LoadSampler == nil {
		t.Fatalf("procfsd status printed %s (%v): no load_sampler", out, err)
	}
	if err := json.Unmarshal(*st.LoadSampler, &sampler); err != nil {
		t.Fatal(err)
	}
	return sampler
}

// TestSamplerBudget: a container of 8000 sleeping threads, whose every count reads 8000
// /proc/<tid>/stat files, must not hold the daemon at a third of a CPU at a 1 s interval. The
// sampler counts it less often, says so in its log and in `procfsd status`, keeps its own
// reported cost near its 5 % budget and the daemon's CPU time low, and the container's
// loadavg is still served from the samples.
func TestSamplerBudget(t *testing.T) {
	// startHoDaemon: a daemon at a 1 s interval whose mount no other run of the suite detaches.
	h := startHoDaemon(t, false)
	d := h.daemon
	cg := newCgroup(t, limits{memory: 2 << 30})
	c := newUnshareContainer(t, d, "threads", cg, cg)
	const threads = 8000
	lines, _ := background(t, c, "env", helperEnv+"=threads", selfExe(t), strconv.Itoa(threads))
	select {
	case l := <-lines:
		if l != "ready" {
			t.Fatalf("thread helper printed %q", l)
		}
	case <-time.After(120 * time.Second):
		t.Fatal("thread helper not ready after 120s")
	}
	readLoad := func() loadavgLine {
		t.Helper()
		l, err := parseLoadavg([]byte(mustRun(t, c, "cat", "/proc/loadavg")))
		if err != nil {
			t.Fatal(err)
		}
		if l.total < threads || l.avg[0] > 4 || l.running > 4 {
			t.Errorf("loadavg %q: want at least %d threads, next to none of them running", l.text, threads)
		}
		return l
	}
	readLoad() // the sampler counts a container from its first loadavg read on

	poll(t, 30*time.Second, "status names the container as sampled less often", func() error {
		for _, e := range samplerStatus(t, h).SampledLess {
			if e.Container == cg.path && e.Every > 1 {
				return nil
			}
		}
		return notYet("not listed")
	})
	logged := false
	for _, l := range d.logLines() {
		logged = logged || strings.Contains(l, "sampled less often") && strings.Contains(l, `"container":"`+cg.path+`"`)
	}
	if !logged {
		t.Errorf("no log line says %s is sampled less often; log:\n%s", cg.path, tail(d.stderr.String(), 20))
	}

	// Ten seconds of the daemon's CPU time, the container reading its loadavg meanwhile.
	t0, c0 := time.Now(), cpuTicks(t, d.pid())
	pace := time.NewTicker(time.Second)
	defer pace.Stop()
	for time.Since(t0) < 10*time.Second {
		readLoad()
		<-pace.C
	}
	share := float64(cpuTicks(t, d.pid())-c0) / userHZ / time.Since(t0).Seconds()
	st := samplerStatus(t, h)
	t.Logf("daemon used %.1f%% of a CPU over %v; the sampler reports %.1f%% (budget %g%%), sampled less: %+v",
		100*share, time.Since(t0).Round(time.Millisecond), st.CostPercent, st.BudgetPercent, st.SampledLess)
	if st.BudgetPercent != 5 {
		t.Errorf("sampler budget %g%%, want the default 5%%", st.BudgetPercent)
	}
	if st.CostPercent > 2*st.BudgetPercent {
		t.Errorf("the sampler reports %.1f%% of a CPU, over twice its budget of %g%%", st.CostPercent, st.BudgetPercent)
	}
	if share > 0.15 {
		t.Errorf("the daemon used %.1f%% of a CPU with one container of %d sleeping threads at a 1 s interval", 100*share, threads)
	}
	d.alive(t)
}
