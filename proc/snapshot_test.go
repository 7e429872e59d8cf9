package proc

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"procfsd/cgroupview"
)

// A clock restored from a snapshot (through JSON, as the state file and handover carry it) must
// produce exactly what the original produces for the same later samples.
func TestCPUClockSnapshotRestore(t *testing.T) {
	samples := []CPUSample{
		{Uptime: 10, CPUs: 3, UserTicks: 1001, SystemTicks: 37},
		{Uptime: 12, CPUs: 2, UserTicks: 1190, SystemTicks: 60},
		{Uptime: 15, CPUs: 4, UserTicks: 1500, SystemTicks: 99},
	}
	var orig CPUClock
	orig.Advance(samples[0])
	b, err := json.Marshal(orig.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var st CPUClockState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	var restored CPUClock
	restored.Restore(st)
	for i, s := range samples[1:] {
		want, got := orig.Advance(s), restored.Advance(s)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("sample %d: restored clock differs (-original +restored):\n%s", i+1, diff)
		}
	}
	// The snapshot is a copy: advancing the clock does not change a snapshot taken before.
	snap := orig.Snapshot()
	before := snap.Lines[0]
	orig.Advance(CPUSample{Uptime: 30, CPUs: 4, UserTicks: 9000})
	if snap.Lines[0] != before {
		t.Errorf("snapshot aliases the clock's lines")
	}
}

func TestCPUClockRestoreUnseeded(t *testing.T) {
	var c CPUClock
	c.Advance(CPUSample{Uptime: 5, CPUs: 2, UserTicks: 100})
	c.Restore(CPUClockState{})
	var fresh CPUClock
	s := CPUSample{Uptime: 10, CPUs: 2, UserTicks: 300}
	if diff := cmp.Diff(fresh.Advance(s), c.Advance(s)); diff != "" {
		t.Errorf("restoring an empty state must give a fresh clock (-fresh +restored):\n%s", diff)
	}
}

func TestLoadavgSnapshotRestore(t *testing.T) {
	orig := NewLoadavg(4, 5*time.Second)
	for _, a := range []int{0, 1, 7, 2} {
		orig.Sample(a)
	}
	b, err := json.Marshal(orig.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var st LoadavgState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	restored := RestoreLoadavg(st, 5*time.Second)
	for _, a := range []int{3, 0, 0} {
		orig.Sample(a)
		restored.Sample(a)
	}
	var w1, w2 bytes.Buffer
	RenderLoadavg(&w1, orig, cgroupview.Tasks{})
	RenderLoadavg(&w2, restored, cgroupview.Tasks{})
	if w1.String() != w2.String() || w1.String() == "0.00 0.00 0.00 0/0 0\n" {
		t.Errorf("restored averages render %q, the original %q", w2.String(), w1.String())
	}
	// A different interval keeps the averages and takes the new decay constants.
	if got := RestoreLoadavg(st, time.Second); got.avenrun != st.Avenrun || got.exp[0] != 2014 {
		t.Errorf("restore at 1 s: avenrun %v exp %v; want %v and EXP_1 2014", got.avenrun, got.exp, st.Avenrun)
	}
}
