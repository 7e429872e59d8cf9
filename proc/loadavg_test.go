package proc

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"procfsd/cgroupview"
)

func TestLoadavgConstants(t *testing.T) {
	l := NewLoadavg(0, 5*time.Second)
	if diff := cmp.Diff([3]uint64{1884, 2014, 2037}, l.exp); diff != "" {
		t.Errorf("5 s constants are include/linux/sched/loadavg.h's EXP_1/5/15 (-want +got):\n%s", diff)
	}
	if got := NewLoadavg(0, 0).exp; got != l.exp {
		t.Errorf("interval 0 gives %v, want the 5 s constants", got)
	}
	if got := NewLoadavg(0, time.Second).exp; got[0] != 2014 {
		t.Errorf("1 s EXP_1 = %d, want round(2048·e^(−1/60)) = 2014", got[0])
	}
}

func TestRenderLoadavg(t *testing.T) {
	tests := []struct {
		name    string
		start   int
		samples []int
		tasks   cgroupview.Tasks
		want    string
	}{
		{name: "starts at the current count", start: 3, tasks: cgroupview.Tasks{Running: 2, Total: 9, LastPID: 42},
			want: "3.00 3.00 3.00 2/9 42\n"},
		{name: "constant count stays put", start: 2, samples: []int{2, 2, 2, 2}, want: "2.00 2.00 2.00 0/0 0\n"},
		{name: "one sample of decay", start: 1, samples: []int{0}, want: "0.92 0.98 0.99 0/0 0\n"},
		{name: "a minute of idle decays the 1-min figure to about 1/e", start: 1,
			samples: []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, want: "0.37 0.82 0.94 0/0 0\n"},
		{name: "rising load rounds up like the kernel", start: 0, samples: []int{1}, want: "0.08 0.02 0.01 0/0 0\n"},
		{name: "negative counts as 0", start: -5, samples: []int{-1}, want: "0.00 0.00 0.00 0/0 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLoadavg(tt.start, 5*time.Second)
			for _, a := range tt.samples {
				l.Sample(a)
			}
			var w bytes.Buffer
			RenderLoadavg(&w, l, tt.tasks)
			if diff := cmp.Diff(tt.want, w.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCalcLoad(t *testing.T) {
	tests := []struct {
		name              string
		load, exp, active uint64
		want              uint64
	}{
		{name: "rising rounds up", load: 1884, exp: 1884, active: 2 * fixed1, want: 2062},
		{name: "falling rounds down", load: 1884, exp: 1884, active: 0, want: 1733},
		{name: "steady", load: fixed1, exp: 2037, active: fixed1, want: fixed1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := calcLoad(tt.load, tt.exp, tt.active); got != tt.want {
				t.Errorf("calcLoad(%d, %d, %d) = %d, want %d", tt.load, tt.exp, tt.active, got, tt.want)
			}
		})
	}
}
