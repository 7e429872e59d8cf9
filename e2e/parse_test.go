//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// userHZ is the unit of /proc/stat (USER_HZ; 100 on every architecture Go supports on Linux).
const userHZ = 100

// meminfo parses a /proc/meminfo-style file into bytes per key (kB values × 1024).
func meminfo(b []byte) (map[string]uint64, []string, error) {
	m := map[string]uint64{}
	var keys []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return nil, nil, fmt.Errorf("meminfo line %q has no colon", sc.Text())
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return nil, nil, fmt.Errorf("meminfo line %q has no value", sc.Text())
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("meminfo line %q: %v", sc.Text(), err)
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		m[k] = n
		keys = append(keys, k)
	}
	return m, keys, nil
}

// cpuLines parses the cpu lines of /proc/stat: "cpu" for the aggregate, "cpu0"… per CPU, in order.
type cpuLine struct {
	name   string
	fields []uint64 // user nice system idle iowait irq softirq steal guest guest_nice
}

func (l cpuLine) total() uint64 {
	var s uint64
	for i, v := range l.fields {
		if i < 8 { // guest and guest_nice are already counted in user and nice
			s += v
		}
	}
	return s
}

// busy is everything but idle and iowait.
func (l cpuLine) busy() uint64 {
	return l.total() - l.fields[3] - l.fields[4]
}

func parseStat(b []byte) ([]cpuLine, error) {
	var out []cpuLine
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if len(f) < 9 {
			return nil, fmt.Errorf("stat line %q: %d fields", line, len(f))
		}
		l := cpuLine{name: f[0]}
		for _, s := range f[1:] {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("stat line %q: %v", line, err)
			}
			l.fields = append(l.fields, n)
		}
		out = append(out, l)
	}
	if len(out) < 2 || out[0].name != "cpu" {
		return nil, fmt.Errorf("stat has no cpu and cpuN lines:\n%s", b)
	}
	return out, nil
}

// checkStatShape checks one /proc/stat snapshot: n CPU lines numbered 0..n-1 and an aggregate
// equal to their sum (docs/behaviour.md §2.3), plus the passthrough keys.
func checkStatShape(b []byte, n int) error {
	lines, err := parseStat(b)
	if err != nil {
		return err
	}
	if len(lines)-1 != n {
		return fmt.Errorf("stat has %d cpuN lines, want %d", len(lines)-1, n)
	}
	for i, l := range lines[1:] {
		if l.name != fmt.Sprintf("cpu%d", i) {
			return fmt.Errorf("stat line %d is %q, want cpu%d", i+1, l.name, i)
		}
	}
	for j := range lines[0].fields {
		var sum uint64
		for _, l := range lines[1:] {
			if j < len(l.fields) {
				sum += l.fields[j]
			}
		}
		if sum != lines[0].fields[j] {
			return fmt.Errorf("stat: field %d of the cpu line is %d, the cpuN lines sum to %d", j+1, lines[0].fields[j], sum)
		}
	}
	for _, k := range []string{"intr ", "ctxt ", "btime ", "processes ", "procs_running ", "procs_blocked "} {
		if !strings.Contains(string(b), "\n"+k) {
			return fmt.Errorf("stat has no %q line", strings.TrimSpace(k))
		}
	}
	return nil
}

// loadavg parses /proc/loadavg: the three averages, running and total threads, last PID.
type loadavgLine struct {
	avg            [3]float64
	running, total int
	lastPID        int
	text           string
}

func parseLoadavg(b []byte) (loadavgLine, error) {
	l := loadavgLine{text: strings.TrimSpace(string(b))}
	f := strings.Fields(l.text)
	if len(f) != 5 {
		return l, fmt.Errorf("loadavg %q: %d fields, want 5", b, len(f))
	}
	for i := range 3 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil || v < 0 || math.IsNaN(v) {
			return l, fmt.Errorf("loadavg %q: field %d", b, i+1)
		}
		l.avg[i] = v
	}
	r, tot, ok := strings.Cut(f[3], "/")
	var err1, err2, err3 error
	l.running, err1 = strconv.Atoi(r)
	l.total, err2 = strconv.Atoi(tot)
	l.lastPID, err3 = strconv.Atoi(f[4])
	if !ok || err1 != nil || err2 != nil || err3 != nil {
		return l, fmt.Errorf("loadavg %q: bad running/total or pid", b)
	}
	return l, nil
}

// hostFacts are the host's own numbers, read from the real /proc and /sys.
type hostFacts struct {
	memTotal  uint64
	swapTotal uint64
	cpus      int // processor blocks in /proc/cpuinfo
	online    string
	uptime    float64
}

func readHost(t testing.TB) hostFacts {
	t.Helper()
	var h hostFacts
	mi := readFile(t, "/proc/meminfo")
	m, _, err := meminfo(mi)
	if err != nil {
		t.Fatal(err)
	}
	h.memTotal, h.swapTotal = m["MemTotal"], m["SwapTotal"]
	h.cpus = countProcessors(string(readFile(t, "/proc/cpuinfo")))
	h.online = strings.TrimSpace(string(readFile(t, "/sys/devices/system/cpu/online")))
	fmt.Sscan(string(readFile(t, "/proc/uptime")), &h.uptime)
	if h.memTotal == 0 || h.cpus == 0 || h.online == "" {
		t.Fatalf("host facts incomplete: %+v", h)
	}
	return h
}

func countProcessors(cpuinfo string) int {
	n := 0
	for _, l := range strings.Split(cpuinfo, "\n") {
		if strings.HasPrefix(l, "processor") {
			n++
		}
	}
	return n
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// onlineList is how sys/devices/system/cpu/online prints CPUs 0..n-1.
func onlineList(n int) string {
	if n == 1 {
		return "0"
	}
	return fmt.Sprintf("0-%d", n-1)
}

// cpusetSize counts the CPUs of a cpuset list such as "0-2,4".
func cpusetSize(s string) (int, error) {
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0, fmt.Errorf("cpuset %q: %v", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("cpuset %q: bad range %q", s, part)
			}
		}
		n += b - a + 1
	}
	return n, nil
}
