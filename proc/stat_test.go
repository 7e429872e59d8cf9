package proc

import (
	"bytes"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"procfsd/cgroupview"
)

const tinyStat = `cpu  10 1 10 100 5 0 0 0 0 0
cpu0 5 1 5 50 5 0 0 0 0 0
cpu1 5 0 5 50 0 0 0 0 0 0
intr 100 1 2
ctxt 999
btime 1700000000
processes 321
procs_running 9
procs_blocked 4
softirq 55 1 2
`

func TestRenderStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		cpus    []CPUTimes
		tasks   cgroupview.Tasks
		want    string
		wantErr bool
	}{
		{name: "one cpu", in: tinyStat, cpus: []CPUTimes{{User: 7, System: 3, Idle: 90}},
			tasks: cgroupview.Tasks{Running: 2, Blocked: 1},
			want: "cpu  7 0 3 90 0 0 0 0 0 0\ncpu0 7 0 3 90 0 0 0 0 0 0\nintr 100 1 2\nctxt 999\n" +
				"btime 1700000000\nprocesses 321\nprocs_running 2\nprocs_blocked 1\nsoftirq 55 1 2\n"},
		{name: "more cpus than the host", in: "cpu  1 1 1 1\ncpu0 1 1 1 1\nctxt 1\n",
			cpus: []CPUTimes{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}},
			want: "cpu  12 0 15 18 0 0 0 0 0 0\ncpu0 1 0 2 3 0 0 0 0 0 0\ncpu1 4 0 5 6 0 0 0 0 0 0\n" +
				"cpu2 7 0 8 9 0 0 0 0 0 0\nctxt 1\n"},
		{name: "lines around cpu lines keep their places", in: "a 1\ncpu 1 2\nb 2\ncpu0 3\nc 3",
			cpus: []CPUTimes{{1, 1, 1}},
			want: "a 1\ncpu  1 0 1 1 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\nb 2\nc 3"},
		{name: "cpufreq-like key is not a cpu line", in: "cpu 1\ncpux 5\n", cpus: []CPUTimes{{}},
			want: "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpux 5\n"},
		{name: "no cpu line", in: "intr 1\nctxt 2\n", cpus: []CPUTimes{{}}, wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := bytes.NewBufferString("p")
			err := RenderStat(w, []byte(tt.in), tt.cpus, tt.tasks)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if w.String() != "p" {
					t.Errorf("error left output %q", w)
				}
				return
			}
			if diff := cmp.Diff("p"+tt.want, w.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// statLines parses a rendered /proc/stat's cpu lines: [0] is the aggregate.
func statLines(t *testing.T, out []byte) [][]uint64 {
	t.Helper()
	var lines [][]uint64
	for rest := out; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if !isCPULine(line) {
			continue
		}
		f := bytes.Fields(line)
		if len(f) != 11 {
			t.Fatalf("%q: want 10 fields", line)
		}
		var v []uint64
		for _, x := range f[1:] {
			n, err := strconv.ParseUint(string(x), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			v = append(v, n)
		}
		lines = append(lines, v)
	}
	return lines
}

// checkStatSum checks that the aggregate is the field-wise sum of the CPU lines.
func checkStatSum(t *testing.T, lines [][]uint64) {
	t.Helper()
	sum := make([]uint64, 10)
	for _, l := range lines[1:] {
		for i, v := range l {
			sum[i] += v
		}
	}
	if diff := cmp.Diff(lines[0], sum); diff != "" {
		t.Errorf("aggregate is not the sum of the cpu lines (-aggregate +sum):\n%s", diff)
	}
}

func TestRenderStatSumsOnFixtures(t *testing.T) {
	for _, host := range []string{smallHost, largeHost} {
		var clk CPUClock
		var w bytes.Buffer
		cpus := clk.Advance(CPUSample{Uptime: 1234.56, CPUs: 7, UserTicks: 100003, SystemTicks: 20011})
		if err := RenderStat(&w, hostFile(t, host, "stat"), cpus, cgroupview.Tasks{}); err != nil {
			t.Fatal(err)
		}
		lines := statLines(t, w.Bytes())
		if len(lines) != 8 {
			t.Fatalf("%s: %d cpu lines, want aggregate + 7", host, len(lines))
		}
		checkStatSum(t, lines)
	}
}

// TestRenderStatLive renders this machine's /proc/stat: every non-cpu line survives in order.
func TestRenderStatLive(t *testing.T) {
	host, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	if err := RenderStat(&w, host, []CPUTimes{{1, 2, 3}, {4, 5, 6}}, cgroupview.Tasks{Running: 1}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(nonCPUKeys(host), nonCPUKeys(w.Bytes())); diff != "" {
		t.Errorf("non-cpu lines (-host +got):\n%s", diff)
	}
	checkStatSum(t, statLines(t, w.Bytes()))
}

func nonCPUKeys(b []byte) []string {
	var out []string
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if !isCPULine(line) {
			out = append(out, keys(line)...)
		}
	}
	return out
}

func FuzzRenderStat(f *testing.F) {
	f.Add([]byte(tinyStat), uint8(2))
	f.Add(hostFile(f, largeHost, "stat"), uint8(64))
	f.Add([]byte("cpu"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, n uint8) {
		cpus := make([]CPUTimes, n)
		for i := range cpus {
			cpus[i] = CPUTimes{uint64(i), uint64(2 * i), math.MaxUint32}
		}
		w := bytes.NewBufferString("x")
		if err := RenderStat(w, in, cpus, cgroupview.Tasks{}); err != nil {
			if w.String() != "x" {
				t.Fatalf("error %v left output", err)
			}
			return
		}
		out := w.Bytes()[1:]
		if diff := cmp.Diff(nonCPUKeys(in), nonCPUKeys(out)); diff != "" {
			t.Fatalf("non-cpu lines (-want +got):\n%s", diff)
		}
		if lines := statLines(t, out); len(lines) != int(n)+1 {
			t.Fatalf("%d cpu lines for %d cpus", len(lines), n)
		}
	})
}

func BenchmarkRenderStat(b *testing.B) {
	in := hostFile(b, largeHost, "stat")
	var clk CPUClock
	cpus := clk.Advance(CPUSample{Uptime: 1e6, CPUs: 64, UserTicks: 1e9, SystemTicks: 1e8})
	var w bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		if err := RenderStat(&w, in, cpus, cgroupview.Tasks{Running: 3}); err != nil {
			b.Fatal(err)
		}
	}
}
