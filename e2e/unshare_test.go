//go:build e2e

package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestUnshareContainers is the real-world check of docs/behaviour.md §2: two containers made by
// hand, A with 256 MiB, one CPU and a 0.5 CPU quota, B with 1 GiB and two CPUs whose commands run
// in a nested cgroup, and the programs people actually run inside them.
func TestUnshareContainers(t *testing.T) {
	h := readHost(t)
	if h.cpus < 2 || h.online != onlineList(h.cpus) {
		t.Fatalf("the suite needs at least 2 CPUs online as 0..n-1; host has %d, online %q", h.cpus, h.online)
	}
	d := startDaemon(t, daemonOptions{})

	la := limits{memory: 256 << 20, cpus: strconv.Itoa(h.cpus - 1), quota: 0.5}
	lb := limits{memory: 1 << 30, cpus: "0-1"}
	rootA, rootB := newCgroup(t, la), newCgroup(t, lb)
	// B's commands run in a nested cgroup whose own (smaller) limit must not change what they
	// see: the container is B's root cgroup, where its init is (docs/behaviour.md §2.1).
	readerB := rootB.child(t, "reader", limits{memory: 512 << 20})
	a := newUnshareContainer(t, d, "A", rootA, rootA)
	b := newUnshareContainer(t, d, "B", rootB, readerB)
	wantA, wantB := expectView(t, h, la), expectView(t, h, lb)

	t.Run("A", func(t *testing.T) { checkPrograms(t, a, wantA, h) })
	t.Run("B", func(t *testing.T) { checkPrograms(t, b, wantB, h) })
	t.Run("A/burn", func(t *testing.T) { checkBurn(t, a, wantA, rootA.cpuUsageFile(), rootA.v2 != nil) })
	t.Run("concurrent", func(t *testing.T) {
		checkConcurrent(t, d, h, map[container]view{a: wantA, b: wantB})
	})
	d.alive(t)
}

// statSample is one look at the container's CPU numbers, taken inside it.
type statSample struct {
	wall float64 // seconds (date +%s.%N)
	cpu  []cpuLine
	load loadavgLine
	// usageNS and usageBeforeNS are the container cgroup's CPU time read right after and right
	// before /proc/stat: the two readings bracket the instant procfsd answered, however slowly
	// the poller's commands run (seconds apart under software emulation).
	usageNS       uint64
	usageBeforeNS uint64
}

// checkBurn runs a CPU burner at the container's quota for a few seconds while a poller inside
// the container samples /proc/stat, /proc/loadavg and the cgroup's own CPU time from usage (a
// path inside the container: v1 cpuacct.usage, v2 cpu.stat).
func checkBurn(t *testing.T, c container, want view, usage string, v2 bool) {
	var samples []statSample
	poll, stopPoller := startPoller(t, c, usage, v2)
	next := func() statSample {
		t.Helper()
		s := poll()
		if n := len(samples); n > 0 {
			if err := monotonic(samples[n-1].cpu, s.cpu); err != nil {
				t.Errorf("/proc/stat went backwards between reads %d and %d: %v", n, n+1, err)
			}
		}
		if err := checkStatShapeLines(s.cpu, want.cpus); err != nil {
			t.Error(err)
		}
		samples = append(samples, s)
		return s
	}
	for range 3 {
		next()
	}

	_, stopBurner := background(t, c, "sh", "-c", "while :; do :; done")
	burnStart := float64(time.Now().UnixNano()) / 1e9
	var s0, s1 *statSample
	sawLoad, sawRunning := false, false
	deadline := time.Now().Add(30 * time.Second)
	for (s1 == nil || !sawLoad) && time.Now().Before(deadline) {
		s := next()
		sawLoad = sawLoad || s.load.avg[0] > 0
		sawRunning = sawRunning || s.load.running >= 1
		switch {
		case s0 == nil && s.wall >= burnStart+1:
			s0 = &s
		case s0 != nil && s1 == nil && s.wall >= s0.wall+4:
			s1 = &s
		}
	}
	stopBurner()
	for range 2 {
		next()
	}
	stopPoller()
	var trace strings.Builder
	for _, s := range samples {
		fmt.Fprintf(&trace, "%.2f busy %d total %d cgroup %.1f load %q\n", s.wall-burnStart,
			s.cpu[0].busy(), s.cpu[0].total(), float64(s.usageNS)/1e7, s.load.text)
	}
	t.Logf("samples (seconds after the burner started):\n%s", trace.String())
	if s0 == nil || s1 == nil {
		t.Fatalf("poller produced too few samples (%d)", len(samples))
	}
	if !sawLoad {
		t.Errorf("loadavg never rose above 0 in 30 s of a busy loop; last %q", samples[len(samples)-1].load.text)
	}
	if !sawRunning {
		t.Errorf("loadavg never showed a running thread during the busy loop")
	}

	wall := s1.wall - s0.wall
	agg0, agg1 := s0.cpu[0], s1.cpu[0]
	dBusy, dTotal := float64(agg1.busy()-agg0.busy()), float64(agg1.total()-agg0.total())
	share := min(want.quota, float64(want.cpus)) / float64(want.cpus)
	if want.quota == 0 {
		share = 1
	}
	got := dBusy / dTotal
	t.Logf("over %.2f s: busy %.0f of %.0f ticks (%.1f%%), cgroup %.0f ticks", wall, dBusy, dTotal,
		100*got, float64(s1.usageNS-s0.usageNS)/1e7)
	if math.Abs(got-share) > 0.1 {
		t.Errorf("/proc/stat: the container was %.1f%% busy, want %.0f%% ± 10 (quota %.1f CPU on %d CPUs; by its cgroup's own CPU time it was %.1f%% busy)",
			100*got, 100*share, want.quota, want.cpus, 100*float64(s1.usageNS-s0.usageNS)/1e9/wall/float64(want.cpus))
	}
	// docs/behaviour.md §2.3: user+system advance by the cgroup's CPU time, within 2%. The cgroup's
	// advance between the two /proc/stat reads lies between the inner and outer pairs of the readings
	// that bracket them; 2 ticks more allow for the CPU view procfsd shares for 20 ms.
	cg := float64(s1.usageNS-s0.usageNS) / (1e9 / userHZ)
	lo := (float64(s1.usageBeforeNS) - float64(s0.usageNS)) / (1e9 / userHZ)
	hi := (float64(s1.usageNS) - float64(s0.usageBeforeNS)) / (1e9 / userHZ)
	if dBusy < lo-0.02*cg-2 || dBusy > hi+0.02*cg+2 {
		t.Errorf("/proc/stat busy ticks advanced %.0f, the cgroup's CPU time %.1f to %.1f ticks (want within 2%%)", dBusy, lo, hi)
	}
	// Each CPU line advances by USER_HZ per second of wall time, idle absorbing the rest.
	for i := 1; i < len(s1.cpu); i++ {
		d := float64(s1.cpu[i].total() - s0.cpu[i].total())
		if math.Abs(d-wall*userHZ) > 0.05*wall*userHZ+3 {
			t.Errorf("%s advanced %.0f ticks in %.2f s, want %.0f ± 5%%", s1.cpu[i].name, d, wall, wall*userHZ)
		}
	}

	// node's os.loadavg() reads /proc/loadavg: it must print the container's figures, the
	// ones node itself reads from /proc/loadavg right before or right after (in the same
	// process: at most one load sample falls between those two reads, where several can during
	// node's seconds-long start under emulation), or else figures between the container's
	// readings just before and after node.
	before := mustRun(t, c, "cat", "/proc/loadavg")
	n := runNode(t, c)
	afterL := mustRun(t, c, "cat", "/proc/loadavg")
	same := func(text string) bool {
		l, err := parseLoadavg([]byte(text))
		if err != nil || len(n.Loadavg) != 3 {
			return false
		}
		for i := range 3 {
			if math.Abs(l.avg[i]-n.Loadavg[i]) > 0.006 {
				return false
			}
		}
		return true
	}
	l0, err0 := parseLoadavg([]byte(before))
	l1, err1 := parseLoadavg([]byte(afterL))
	between := err0 == nil && err1 == nil && len(n.Loadavg) == 3
	for i := 0; between && i < 3; i++ {
		lo, hi := min(l0.avg[i], l1.avg[i]), max(l0.avg[i], l1.avg[i])
		between = n.Loadavg[i] >= lo-0.006 && n.Loadavg[i] <= hi+0.006
	}
	for _, own := range []string{n.ProcLoadavgBefore, n.ProcLoadavg} {
		if strings.TrimSpace(own) == "" {
			t.Errorf("node read an empty /proc/loadavg")
		}
		// node's own read is the container's file: its newest PID is one of the container's
		// PID namespace, between the newest PIDs read before and after node.
		if ln, err := parseLoadavg([]byte(own)); err == nil && err0 == nil && err1 == nil &&
			ln.lastPID >= l0.lastPID && ln.lastPID <= l1.lastPID {
			between = between || same(own)
		}
	}
	if !between {
		t.Errorf("node os.loadavg() = %v, node's own reads of /proc/loadavg %q and %q, the container's %q then %q",
			n.Loadavg, strings.TrimSpace(n.ProcLoadavgBefore), strings.TrimSpace(n.ProcLoadavg),
			strings.TrimSpace(before), strings.TrimSpace(afterL))
	}
}

// startPoller starts a loop in c that prints /proc/stat, /proc/loadavg and the cgroup's CPU time
// (usage, a path inside c) about five times a second; next returns the next sample.
func startPoller(t *testing.T, c container, usage string, v2 bool) (next func() statSample, stop func()) {
	lines, stop := background(t, c, "sh", "-c", fmt.Sprintf(
		`while :; do date +%%s.%%N; echo @usage0; cat %[1]s; echo @stat; cat /proc/stat; echo @usage; cat %[1]s; echo @load; cat /proc/loadavg; echo @end; sleep 0.2; done`,
		shellQuote(usage)))
	next = func() statSample {
		t.Helper()
		s, err := readSample(lines, v2, 10*time.Second)
		if err != nil {
			t.Fatalf("poller in %s: %v", c, err)
		}
		return s
	}
	return next, stop
}

func readSample(lines <-chan string, v2 bool, timeout time.Duration) (statSample, error) {
	var s statSample
	var stat, load, usage, usage0 strings.Builder
	section := "wall"
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
			if !ok {
				return s, fmt.Errorf("poller exited")
			}
		case <-timer.C:
			return s, fmt.Errorf("no sample within %v", timeout)
		}
		switch {
		case section == "wall":
			w, err := strconv.ParseFloat(strings.TrimSpace(line), 64)
			if err != nil {
				return s, fmt.Errorf("date printed %q", line)
			}
			s.wall, section = w, "head"
		case line == "@usage0":
			section = "usage0"
		case line == "@stat":
			section = "stat"
		case line == "@load":
			section = "load"
		case line == "@usage":
			section = "usage"
		case line == "@end":
			var err error
			if s.cpu, err = parseStat([]byte(stat.String())); err != nil {
				return s, err
			}
			if s.load, err = parseLoadavg([]byte(load.String())); err != nil {
				return s, err
			}
			if s.usageBeforeNS, err = parseUsage(usage0.String(), v2); err != nil {
				return s, err
			}
			if s.usageNS, err = parseUsage(usage.String(), v2); err != nil {
				return s, err
			}
			return s, nil
		case section == "stat":
			stat.WriteString(line + "\n")
		case section == "load":
			load.WriteString(line + "\n")
		case section == "usage":
			usage.WriteString(line + "\n")
		case section == "usage0":
			usage0.WriteString(line + "\n")
		}
	}
}

// parseUsage reads a cgroup's CPU time in ns: v2 cpu.stat's usage_usec, or v1 cpuacct.usage.
func parseUsage(u string, v2 bool) (uint64, error) {
	if !v2 {
		n, err := strconv.ParseUint(strings.TrimSpace(u), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cgroup usage %q: %v", u, err)
		}
		return n, nil
	}
	for _, l := range strings.Split(u, "\n") {
		if v, ok := strings.CutPrefix(l, "usage_usec "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cgroup cpu.stat %q: %v", u, err)
			}
			return n * 1000, nil
		}
	}
	return 0, fmt.Errorf("cgroup cpu.stat without usage_usec: %q", u)
}

// monotonic checks that no counter of the cpu lines a and b have in common decreased from a to b
// (the number of CPU lines changes with the cpuset or quota).
func monotonic(a, b []cpuLine) error {
	names := []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"}
	for i := range min(len(a), len(b)) {
		for j := range min(len(a[i].fields), len(b[i].fields)) {
			if b[i].fields[j] < a[i].fields[j] {
				return fmt.Errorf("%s %s: %d then %d", a[i].name, names[j], a[i].fields[j], b[i].fields[j])
			}
		}
	}
	return nil
}

func checkStatShapeLines(lines []cpuLine, n int) error {
	if len(lines)-1 != n {
		return fmt.Errorf("/proc/stat has %d cpuN lines, want %d", len(lines)-1, n)
	}
	for j := range lines[0].fields {
		var sum uint64
		for _, l := range lines[1:] {
			sum += l.fields[j]
		}
		if sum != lines[0].fields[j] {
			return fmt.Errorf("/proc/stat: cpu field %d is %d, the cpuN lines sum to %d", j+1, lines[0].fields[j], sum)
		}
	}
	return nil
}

// checkConcurrent has every container and the host read at the same time; each must see its own
// numbers every time.
func checkConcurrent(t *testing.T, d *daemon, h hostFacts, want map[container]view) {
	const rounds = 30
	script := fmt.Sprintf(`for i in $(seq %d); do grep MemTotal /proc/meminfo; grep -c ^processor /proc/cpuinfo; cat /%s; done`, rounds, onlineFile)
	hostMem := hostCallerMemTotal(t, h)
	var wg sync.WaitGroup
	for c, v := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := run(c, "sh", "-c", script)
			if err != nil {
				t.Error(err)
				return
			}
			checkTriples(t, c.String(), out, rounds, v.memTotal, v.cpus, onlineList(v.cpus))
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var sb strings.Builder
		for range rounds {
			for _, f := range []string{"proc/meminfo", "proc/cpuinfo", onlineFile} {
				b, err := os.ReadFile(d.path(f))
				if err != nil {
					t.Errorf("host: %v", err)
					return
				}
				switch f {
				case "proc/meminfo":
					for _, l := range strings.Split(string(b), "\n") {
						if strings.HasPrefix(l, "MemTotal:") {
							sb.WriteString(l + "\n")
						}
					}
				case "proc/cpuinfo":
					fmt.Fprintf(&sb, "%d\n", countProcessors(string(b)))
				default:
					sb.Write(b)
				}
			}
		}
		checkTriples(t, "host", sb.String(), rounds, hostMem, h.cpus, h.online)
	}()
	wg.Wait()
}

func checkTriples(t *testing.T, who, out string, rounds int, mem uint64, cpus int, online string) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3*rounds {
		t.Errorf("%s: %d lines, want %d:\n%s", who, len(lines), 3*rounds, out)
		return
	}
	wantMem := fmt.Sprintf("MemTotal: %d kB", mem/1024)
	for i := 0; i < len(lines); i += 3 {
		gotMem := strings.Join(strings.Fields(lines[i]), " ")
		if gotMem != wantMem || lines[i+1] != strconv.Itoa(cpus) || lines[i+2] != online {
			t.Errorf("%s, read %d: %q, %s CPUs, online %q; want %q, %d, %q",
				who, i/3+1, gotMem, lines[i+1], lines[i+2], wantMem, cpus, online)
			return
		}
	}
}

// hostCallerMemTotal is the MemTotal a caller in the host PID namespace must see: its own cgroup's
// view (docs/behaviour.md §2.1), which is the host's MemTotal unless the test itself runs under a
// memory limit.
func hostCallerMemTotal(t testing.TB, h hostFacts) uint64 {
	t.Helper()
	b := readFile(t, "/proc/self/cgroup")
	mem := h.memTotal
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		var dir, file string
		switch {
		case f[1] == "memory":
			dir, file = filepath.Join(cgroupMount, "memory", f[2]), "memory.limit_in_bytes"
		case f[0] == "0" && f[1] == "" && cgroups2Only():
			dir, file = filepath.Join(cgroupMount, f[2]), "memory.max"
		default:
			continue
		}
		for ; strings.HasPrefix(dir, cgroupMount+"/"); dir = filepath.Dir(dir) {
			v, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				continue
			}
			if n, err := strconv.ParseUint(strings.TrimSpace(string(v)), 10, 64); err == nil && n < mem {
				mem = n
			}
		}
	}
	return mem
}

func cgroups2Only() bool {
	_, err := os.Stat(filepath.Join(cgroupMount, "cgroup.controllers"))
	return err == nil
}
