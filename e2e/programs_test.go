//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// view is what a container must see, computed from the limits its cgroup was given and the
// host's own /proc (docs/behaviour.md §2.2, §2.3).
type view struct {
	memTotal  uint64 // bytes
	swapTotal uint64 // bytes
	cpus      int
	quota     float64 // CPUs, 0 without a quota
}

func expectView(t testing.TB, h hostFacts, l limits) view {
	t.Helper()
	// Test cgroups get no swap limit: SwapTotal is the host's (docs/behaviour.md §2.2).
	v := view{memTotal: h.memTotal, swapTotal: h.swapTotal, cpus: h.cpus, quota: l.quota}
	if l.memory > 0 && uint64(l.memory) < v.memTotal {
		v.memTotal = uint64(l.memory)
	}
	if l.cpus != "" {
		n, err := cpusetSize(l.cpus)
		if err != nil {
			t.Fatal(err)
		}
		v.cpus = n
	}
	if l.quota > 0 { // --cpu-view=quota, the default
		if q := int(math.Ceil(l.quota)); q < v.cpus {
			v.cpus = max(q, 1)
		}
	}
	return v
}

// checkPrograms runs the real programs in c and compares what they print with want.
func checkPrograms(t *testing.T, c container, want view, h hostFacts) {
	t.Run("free", func(t *testing.T) {
		out := mustRun(t, c, "free", "-b")
		f := fieldsOfLine(t, out, "Mem:")
		if len(f) < 7 {
			t.Fatalf("free -b: Mem line %q", f)
		}
		if got := atou(t, f[1]); got != want.memTotal {
			t.Errorf("free -b: Mem total %d, want %d", got, want.memTotal)
		}
		if avail := atou(t, f[6]); avail > want.memTotal {
			t.Errorf("free -b: available %d > total %d", avail, want.memTotal)
		}
		if swap := atou(t, fieldsOfLine(t, out, "Swap:")[1]); swap != want.swapTotal {
			t.Errorf("free -b: Swap total %d, want %d (host %d)", swap, want.swapTotal, h.swapTotal)
		}
	})
	t.Run("top", func(t *testing.T) {
		out := mustRun(t, c, "top", "-bn1")
		m := regexp.MustCompile(`(KiB|MiB|GiB|TiB) Mem\s*:\s*([0-9.]+)\s+total`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("top -bn1: no memory header in:\n%s", out)
		}
		unit := map[string]float64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[1]]
		got, _ := strconv.ParseFloat(m[2], 64)
		wantF := float64(want.memTotal) / unit
		if math.Abs(got-wantF) > 0.05 {
			t.Errorf("top -bn1: %s %s total, want %.1f %s", m[2], m[1], wantF, m[1])
		}
	})
	t.Run("vmstat", func(t *testing.T) { checkVmstat(t, c, want) })
	t.Run("cpuinfo", func(t *testing.T) {
		out := mustRun(t, c, "grep", "-c", "^processor", "/proc/cpuinfo")
		if got := strings.TrimSpace(out); got != strconv.Itoa(want.cpus) {
			t.Errorf("grep -c ^processor /proc/cpuinfo = %s, want %d", got, want.cpus)
		}
		out = mustRun(t, c, "cat", "/"+onlineFile)
		if got := strings.TrimSpace(out); got != onlineList(want.cpus) {
			t.Errorf("%s = %q, want %q", onlineFile, got, onlineList(want.cpus))
		}
		if err := checkStatShape([]byte(mustRun(t, c, "cat", "/proc/stat")), want.cpus); err != nil {
			t.Error(err)
		}
	})
	t.Run("python", func(t *testing.T) {
		// CPython's os.cpu_count() is glibc's sysconf(_SC_NPROCESSORS_ONLN), which reads
		// sys/devices/system/cpu/online.
		out := mustRun(t, c, "python3", "-c", "import os;print(os.cpu_count())")
		if got := strings.TrimSpace(out); got != strconv.Itoa(want.cpus) {
			t.Errorf("python3 os.cpu_count() = %s, want %d", got, want.cpus)
		}
	})
	t.Run("node", func(t *testing.T) {
		n := runNode(t, c)
		if n.Totalmem != want.memTotal {
			t.Errorf("node os.totalmem() = %d, want %d", n.Totalmem, want.memTotal)
		}
		if n.CPUs != want.cpus {
			t.Errorf("node os.cpus().length = %d, want %d", n.CPUs, want.cpus)
		}
		checkAge(t, c, "node os.uptime()", n.Uptime, n.at, 2)
	})
	t.Run("uptime", func(t *testing.T) {
		at := time.Now()
		out := mustRun(t, c, "cat", "/proc/uptime")
		var up, idle float64
		if _, err := fmt.Sscan(out, &up, &idle); err != nil {
			t.Fatalf("/proc/uptime %q: %v", out, err)
		}
		checkAge(t, c, "/proc/uptime", up, at, 1)
		if max := up*float64(want.cpus) + 0.5; idle > max {
			t.Errorf("/proc/uptime idle %.2f > uptime × CPUs = %.2f", idle, max)
		}

		// uptime -s prints now − uptime as a time of day: the container's start, to the second.
		out = strings.TrimSpace(mustRun(t, c, "uptime", "-s"))
		since, err := time.ParseInLocation("2006-01-02 15:04:05", out, time.UTC)
		if err != nil {
			t.Fatalf("uptime -s %q: %v", out, err)
		}
		after, before := c.started()
		if since.Before(after.Truncate(time.Second).Add(-2*time.Second)) || since.After(before.Add(2*time.Second)) {
			t.Errorf("uptime -s = %s, want the container's start, between %s and %s (host booted %s)",
				since.Format(time.TimeOnly), after.UTC().Format(time.TimeOnly), before.UTC().Format(time.TimeOnly),
				time.Now().Add(-time.Duration(h.uptime*float64(time.Second))).UTC().Format(time.TimeOnly))
		}
		out = mustRun(t, c, "uptime")
		m := regexp.MustCompile(`up\s+(\d+)\s+min`).FindStringSubmatch(out)
		age := time.Since(after).Minutes()
		if m == nil {
			t.Errorf("uptime = %q, want \"up %d min\" (the container is %.1f minutes old)", out, int(age), age)
		} else if n, _ := strconv.Atoi(m[1]); math.Abs(float64(n)-age) > 1 {
			t.Errorf("uptime = %q, want about %d min", out, int(age))
		}
	})
}

// checkAge checks that a program's uptime is the container's age (not the host's).
func checkAge(t *testing.T, c container, what string, got float64, at time.Time, slack float64) {
	t.Helper()
	after, before := c.started()
	lo, hi := at.Sub(before).Seconds()-slack, time.Since(after).Seconds()+slack
	if got < lo || got > hi {
		t.Errorf("%s = %.2f s, want the container's age, %.2f..%.2f s", what, got, lo, hi)
	}
}

type nodeFacts struct {
	Totalmem uint64
	CPUs     int
	Uptime   float64
	Loadavg  []float64
	// ProcLoadavgBefore and ProcLoadavg are /proc/loadavg as node read it right before and
	// right after os.loadavg(), in the same process. The averages change only at a load sample,
	// and at most one falls between two reads that close (the samples are a second apart), so
	// os.loadavg() prints the figures of one of them, however slowly node runs.
	ProcLoadavgBefore string
	ProcLoadavg       string
	at                time.Time
}

func runNode(t *testing.T, c container) nodeFacts {
	t.Helper()
	var n nodeFacts
	n.at = time.Now()
	// /proc/loadavg is read right before and right after os.loadavg(), before the other calls
	// (os.cpus() and os.uptime() read three files through procfsd). A load sample can still
	// fall between os.loadavg() and either read: seen in clean-clone runs, on the host (0.13
	// from os.loadavg(), 0.15 read after) and in the VM (0.53, then 0.52).
	out := mustRun(t, c, "node", "-e", `const os = require("os");
const fs = require("fs");
const procLoadavgBefore = fs.readFileSync("/proc/loadavg", "utf8");
const loadavg = os.loadavg();
const procLoadavg = fs.readFileSync("/proc/loadavg", "utf8");
console.log(JSON.stringify({Totalmem: os.totalmem(), CPUs: os.cpus().length, Uptime: os.uptime(), Loadavg: loadavg,
  ProcLoadavgBefore: procLoadavgBefore, ProcLoadavg: procLoadavg}))`)
	if err := json.Unmarshal([]byte(out), &n); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	return n
}

// checkVmstat runs vmstat 1 2 and checks its memory columns against the container's meminfo,
// read right before and after.
func checkVmstat(t *testing.T, c container, want view) {
	before := containerMeminfo(t, c)
	out := mustRun(t, c, "vmstat", "1", "2")
	after := containerMeminfo(t, c)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("vmstat 1 2: %d lines, want 4:\n%s", len(lines), out)
	}
	head := strings.Fields(lines[1])
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, k := range []string{"free", "buff", "cache", "us", "sy", "id", "wa", "st"} {
		if _, ok := col[k]; !ok {
			t.Fatalf("vmstat header %q has no %s column", lines[1], k)
		}
	}
	lo := min(before["MemFree"], after["MemFree"]) / 1024
	hi := max(before["MemFree"], after["MemFree"]) / 1024
	const slack = 16 << 10 // KiB: what the container's own processes may allocate in between
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != len(head) {
			t.Fatalf("vmstat line %q: %d columns, header has %d", l, len(f), len(head))
		}
		free, buff, cache := atou(t, f[col["free"]]), atou(t, f[col["buff"]]), atou(t, f[col["cache"]])
		if free > want.memTotal/1024 {
			t.Errorf("vmstat: free %d KiB > the container's %d KiB", free, want.memTotal/1024)
		}
		if free+slack < lo || free > hi+slack {
			t.Errorf("vmstat: free %d KiB, the container's MemFree was %d..%d KiB", free, lo, hi)
		}
		if buff != 0 {
			t.Errorf("vmstat: buff %d KiB, want 0 (Buffers is 0 in a container)", buff)
		}
		if free+cache > want.memTotal/1024+slack {
			t.Errorf("vmstat: free %d + cache %d KiB > the container's %d KiB (its meminfo: Cached %d kB, SReclaimable %d kB)",
				free, cache, want.memTotal/1024, after["Cached"]/1024, after["SReclaimable"]/1024)
		}
		var pct uint64
		for _, k := range []string{"us", "sy", "id", "wa", "st"} {
			pct += atou(t, f[col[k]])
		}
		if pct < 97 || pct > 103 {
			t.Errorf("vmstat: us+sy+id+wa+st = %d%%, want 100%%: %q", pct, l)
		}
	}
}

func containerMeminfo(t *testing.T, c container) map[string]uint64 {
	t.Helper()
	out, err := run(c, "cat", "/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := meminfo([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fieldsOfLine returns the fields of the first line of out starting with prefix.
func fieldsOfLine(t testing.TB, out, prefix string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == prefix {
			if len(f) < 4 {
				t.Fatalf("line %q: too few fields", l)
			}
			return f
		}
	}
	t.Fatalf("no %q line in:\n%s", prefix, out)
	return nil
}

func atou(t testing.TB, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%q is not a number: %v", s, err)
	}
	return n
}
