package proc

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sumTimes(lines []CPUTimes) CPUTimes {
	var s CPUTimes
	for _, l := range lines {
		s.User, s.System, s.Idle = s.User+l.User, s.System+l.System, s.Idle+l.Idle
	}
	return s
}

func TestCPUClockSeed(t *testing.T) {
	var c CPUClock
	got := c.Advance(CPUSample{Uptime: 10, CPUs: 4, UserTicks: 1003, SystemTicks: 401})
	want := []CPUTimes{{253, 101, 646}, {250, 100, 650}, {250, 100, 650}, {250, 100, 650}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("seed spreads lifetime totals, remainder on cpu0 (-want +got):\n%s", diff)
	}
}

func TestCPUClockCases(t *testing.T) {
	tests := []struct {
		name    string
		samples []CPUSample
		want    []CPUTimes
	}{
		{name: "advance split evenly, idle takes the rest of the wall time",
			samples: []CPUSample{{Uptime: 10, CPUs: 2, UserTicks: 200}, {Uptime: 20, CPUs: 2, UserTicks: 501, SystemTicks: 100}},
			want:    []CPUTimes{{251, 50, 1699}, {250, 50, 1700}}},
		{name: "shrink folds vanished lines so nothing decreases",
			samples: []CPUSample{{Uptime: 10, CPUs: 3, UserTicks: 300}, {Uptime: 10, CPUs: 1, UserTicks: 300}},
			want:    []CPUTimes{{300, 0, 2700}}},
		{name: "grow starts new lines idle since the container started",
			samples: []CPUSample{{Uptime: 10, CPUs: 1, UserTicks: 100}, {Uptime: 10, CPUs: 2, UserTicks: 100}},
			want:    []CPUTimes{{100, 0, 900}, {0, 0, 1000}}},
		{name: "uptime going back by float noise moves nothing back",
			samples: []CPUSample{{Uptime: 10.009, CPUs: 1}, {Uptime: 10.0089999, CPUs: 1}},
			want:    []CPUTimes{{0, 0, 1000}}},
		{name: "cpu time going back (cgroup recreated) moves nothing back",
			samples: []CPUSample{{Uptime: 10, CPUs: 1, UserTicks: 500}, {Uptime: 11, CPUs: 1, UserTicks: 10},
				{Uptime: 12, CPUs: 1, UserTicks: 30}},
			want: []CPUTimes{{520, 0, 680}}},
		{name: "busier than the wall time: idle stays",
			samples: []CPUSample{{Uptime: 10, CPUs: 1, UserTicks: 100}, {Uptime: 11, CPUs: 1, UserTicks: 2000}},
			want:    []CPUTimes{{2000, 0, 900}}},
		{name: "zero cpus count as one, NaN uptime as no time",
			samples: []CPUSample{{Uptime: math.NaN(), CPUs: 0, UserTicks: 5}},
			want:    []CPUTimes{{5, 0, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c CPUClock
			var got []CPUTimes
			for _, s := range tt.samples {
				got = c.Advance(s)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestCPUClockInvariants drives a clock through a random walk of CPU counts, CPU time and
// float-noisy uptimes and checks docs/behaviour.md §2.3's invariants after every step.
func TestCPUClockInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var c CPUClock
	s := CPUSample{Uptime: 5, CPUs: 4, UserTicks: 1000, SystemTicks: 300}
	prev := c.Advance(s)
	shrunk, maxUp := false, s.Uptime
	for step := range 5000 {
		next := s
		next.Uptime += r.Float64() * 3
		if r.IntN(10) == 0 {
			next.Uptime = s.Uptime - 1e-9 // clock noise
		}
		if r.IntN(20) == 0 {
			next.CPUs = 1 + r.IntN(8)
		}
		busy := uint64((next.Uptime - s.Uptime) * userHZ * float64(next.CPUs) * r.Float64())
		next.UserTicks += busy * 3 / 4
		next.SystemTicks += busy / 4
		got := c.Advance(next)

		if len(got) != next.CPUs {
			t.Fatalf("step %d: %d lines for %d CPUs", step, len(got), next.CPUs)
		}
		for i := range min(len(got), len(prev)) {
			if got[i].User < prev[i].User || got[i].System < prev[i].System || got[i].Idle < prev[i].Idle {
				t.Fatalf("step %d: cpu%d went back: %+v → %+v", step, i, prev[i], got[i])
			}
		}
		a, b := sumTimes(prev), sumTimes(got)
		if b.User < a.User || b.System < a.System || b.Idle < a.Idle {
			t.Fatalf("step %d: aggregate went back: %+v → %+v", step, a, b)
		}
		if b.User != next.UserTicks || b.System != next.SystemTicks {
			t.Fatalf("step %d: Σuser,system = %d,%d; container %d,%d", step, b.User, b.System,
				next.UserTicks, next.SystemTicks)
		}
		shrunk = shrunk || next.CPUs < s.CPUs
		maxUp = max(maxUp, next.Uptime)
		wall := wallTicks(maxUp)
		for i, l := range got {
			total := l.User + l.System + l.Idle
			if total < wall {
				t.Fatalf("step %d: cpu%d total %d < uptime ticks %d", step, i, total, wall)
			}
			if !shrunk && l.User+l.System <= wall && total != wall {
				t.Fatalf("step %d: cpu%d total %d != uptime ticks %d", step, i, total, wall)
			}
		}
		prev, s = got, next
	}
}

func TestContainerUptime(t *testing.T) {
	tests := []struct {
		name           string
		up             float64
		cpus           int
		cpuSec         float64
		wantUp, wantID float64
	}{
		{name: "idle summed over CPUs", up: 100, cpus: 4, cpuSec: 50, wantUp: 100, wantID: 350},
		{name: "busier than possible", up: 10, cpus: 1, cpuSec: 50, wantUp: 10, wantID: 0},
		{name: "negative uptime", up: -3, cpus: 2, cpuSec: 0, wantUp: 0, wantID: 0},
		{name: "zero CPUs count as one", up: 10, cpus: 0, cpuSec: 4, wantUp: 10, wantID: 6},
		{name: "NaN", up: math.NaN(), cpus: 2, cpuSec: math.NaN(), wantUp: 0, wantID: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, idle := ContainerUptime(tt.up, tt.cpus, tt.cpuSec)
			if up != tt.wantUp || idle != tt.wantID {
				t.Errorf("ContainerUptime = %v, %v; want %v, %v", up, idle, tt.wantUp, tt.wantID)
			}
		})
	}
}
