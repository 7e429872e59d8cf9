package proc

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"procfsd/cgroupview"
)

// /proc/loadavg (kernel kernel/sched/loadavg.c calc_load, fs/proc/loadavg.c loadavg_proc_show).
// docs/behaviour.md §2.4: the kernel's fixed-point exponential averages of the container's runnable
// plus uninterruptible threads, sampled by the caller every interval of wall-clock time.

const (
	fshift  = 11          // FSHIFT: bits of precision
	fixed1  = 1 << fshift // FIXED_1: 1.0 in fixed point
	defExpN = 5 * time.Second
)

// loadPeriods are the averaging windows of the three figures.
var loadPeriods = [3]time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}

// Loadavg is one container's three load averages. The zero value is not usable; use NewLoadavg.
type Loadavg struct {
	avenrun [3]uint64 // fixed point, like the kernel's avenrun[]
	exp     [3]uint64 // decay per sample: EXP_1, EXP_5, EXP_15 for a 5 s interval
}

// NewLoadavg starts the averages at the current count of active threads, so that a container
// seen for the first time does not read 0.00 and climb for minutes (LXCFS starts at 0). interval
// is the sampling period the caller keeps; 0 or less means the kernel's 5 s.
func NewLoadavg(active int, interval time.Duration) *Loadavg {
	if interval <= 0 {
		interval = defExpN
	}
	l := &Loadavg{}
	for i, p := range loadPeriods {
		// e = FIXED_1/exp(interval/period), rounded: 1884, 2014, 2037 for 5 s, as in
		// include/linux/sched/loadavg.h.
		l.exp[i] = uint64(math.Round(fixed1 * math.Exp(-interval.Seconds()/p.Seconds())))
		l.avenrun[i] = activeFixed(active)
	}
	return l
}

// Sample folds one count of running plus uninterruptible threads into the averages.
func (l *Loadavg) Sample(active int) { l.SampleN(active, 1) }

// calcLoad is the kernel's calc_load: load·e + active·(1−e), rounded up while the load rises so
// that a constant count is reached rather than approached forever.
func calcLoad(load, exp, active uint64) uint64 {
	n := load*exp + active*(fixed1-exp)
	if active >= load {
		n += fixed1 - 1
	}
	return n / fixed1
}

// activeFixed converts a thread count to fixed point; negatives count as 0 and the count is
// bounded so that calcLoad's products cannot overflow.
func activeFixed(active int) uint64 {
	return uint64(min(max(active, 0), 1<<30)) * fixed1
}

// RenderLoadavg appends "a1 a5 a15 running/total lastpid\n" as loadavg_proc_show prints it.
func RenderLoadavg(w *bytes.Buffer, l *Loadavg, t cgroupview.Tasks) {
	var v [6]uint64
	for i, a := range l.avenrun {
		a += fixed1 / 200 // round to hundredths
		v[2*i], v[2*i+1] = a>>fshift, ((a&(fixed1-1))*100)>>fshift
	}
	fmt.Fprintf(w, "%d.%02d %d.%02d %d.%02d %d/%d %d\n", v[0], v[1], v[2], v[3], v[4], v[5],
		t.Running, t.Total, t.LastPID)
}

// LoadavgState is the three averages in the kernel's fixed point, as plain data for a successor
// process (docs/behaviour.md §5): carrying them over keeps `uptime` and `top` from restarting their
// curves.
type LoadavgState struct {
	Avenrun [3]uint64 `json:"avenrun"`
}

// Snapshot returns the averages.
func (l *Loadavg) Snapshot() LoadavgState { return LoadavgState{Avenrun: l.avenrun} }

// RestoreLoadavg continues averages from s, decaying them at the given sampling interval from
// now on (the interval may differ from the predecessor's; 0 or less means 5 s).
func RestoreLoadavg(s LoadavgState, interval time.Duration) *Loadavg {
	l := NewLoadavg(0, interval)
	for i, a := range s.Avenrun {
		l.avenrun[i] = min(a, activeFixed(1<<30))
	}
	return l
}
