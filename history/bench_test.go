package history

import (
	"encoding/json"
	"testing"
	"time"

	"procfsd/cgroupview"
	"procfsd/proc"
)

// BenchmarkClockJournalPut is what every /proc/stat render adds for the clock journal.
func BenchmarkClockJournalPut(b *testing.B) {
	j, err := openClockJournal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer j.close()
	var clock proc.CPUClock
	clock.Advance(proc.CPUSample{Uptime: 1000, CPUs: 8, UserTicks: 12345, SystemTicks: 678})
	c := cgroupview.Container{ID: "/kubepods/pod1/ctr", InitPID: 4242, InitStart: 99,
		Paths: map[string]string{"memory": "/kubepods/pod1/ctr", "cpu": "/kubepods/pod1/ctr", "cpuacct": "/kubepods/pod1/ctr"}}
	cj, _ := json.Marshal(&c)
	for b.Loop() {
		snap := clock.Snapshot()
		j.put(c.ID, cj, time.Now(), &snap)
	}
}
