package history

import (
	"testing"
	"time"

	"procfsd/cgroupview"
	"procfsd/proc"
)

// TestNewInitStartsAfresh: a new init in a cgroup path whose previous init has exited is a new
// container (`docker restart`): its /proc/stat counts from its own start and its load averages
// from its own count. Another live init under the same path (a nested PID namespace) and a
// caller in the host PID namespace share the container's history.
func TestNewInitStartsAfresh(t *testing.T) {
	alive := map[int]uint64{}
	cs := &containerStates{alive: func(pid int, start uint64) bool { s, ok := alive[pid]; return ok && s == start }}
	paths := map[string]string{"": "/ctr"}
	old := &cgroupview.Container{ID: "/ctr", Paths: paths, InitPID: 100, InitStart: 1000}
	alive[100] = 1000
	st := cs.get(old)
	// The old container ran for 200 s on 2 CPUs and used 50 s of CPU.
	st.AdvanceClock(proc.CPUSample{Uptime: 200, CPUs: 2, UserTicks: 4000, SystemTicks: 1000})
	st.Loadavg(cgroupview.Tasks{Running: 7}, time.Second)

	nested := &cgroupview.Container{ID: "/ctr", Paths: paths, InitPID: 300, InitStart: 5000}
	alive[300] = 5000
	if cs.get(nested) != st {
		t.Fatal("a nested PID namespace's init got a state of its own while the container's init runs")
	}
	host := &cgroupview.Container{ID: "/ctr", Paths: paths, InitStart: 9000}
	if cs.get(host) != st {
		t.Fatal("a caller in the host PID namespace got a state of its own")
	}
	// The nested init exits: the container's own init is still the identity.
	delete(alive, 300)
	if cs.get(old) != st {
		t.Fatal("the container's init lost its state when a nested init exited")
	}

	delete(alive, 100)
	delete(alive, 300)
	next := &cgroupview.Container{ID: "/ctr", Paths: paths, InitPID: 200, InitStart: 30000}
	alive[200] = 30000
	nst := cs.get(next)
	if nst == st {
		t.Fatal("a new init in the same cgroup path kept the old container's state")
	}
	if nst.HasLoad() {
		t.Error("the new container inherited load averages")
	}
	// Its first /proc/stat: 0.5 s old, and the cgroup (kept) still counts the old 50 s.
	lines := nst.AdvanceClock(proc.CPUSample{Uptime: 0.5, CPUs: 2, UserTicks: 4020, SystemTicks: 1010})
	for i, l := range lines {
		if total := l.User + l.System + l.Idle; total < 49 || total > 52 {
			t.Errorf("cpu%d: %+v totals %d ticks at 0.5 s of uptime, want 50", i, l, total)
		}
	}
	var busy uint64
	for _, l := range lines {
		busy += l.User + l.System
	}
	if busy != 30 {
		t.Errorf("new container busy %d ticks, want the 30 counted since the old one's last read", busy)
	}
	if l := nst.Loadavg(cgroupview.Tasks{Running: 1}, time.Second); l.Snapshot() != proc.NewLoadavg(1, time.Second).Snapshot() {
		t.Errorf("new container's load averages %v, want them started from its own count", l.Snapshot())
	}
	// The old state's sampler must not drop the new one.
	cs.drop("/ctr", st)
	if cs.get(next) != nst {
		t.Error("dropping the old container's state dropped the new one's")
	}
}

// TestNewerClocksKeepsTheLaterContainer: the clock journal and the saved history disagree on
// the init of a cgroup path; the entry read last wins whole.
func TestNewerClocksKeepsTheLaterContainer(t *testing.T) {
	now := time.Now()
	oldC := cgroupview.Container{ID: "/ctr", InitPID: 100, InitStart: 1000}
	newC := cgroupview.Container{ID: "/ctr", InitPID: 200, InitStart: 30000}
	saved := []ContainerHistory{{Container: oldC, LastRead: now.Add(-time.Second),
		Clock: proc.CPUClockState{Lines: []proc.CPUTimes{{Idle: 20000}}, Uptime: 200, Seeded: true},
		Load:  &proc.LoadavgState{Avenrun: [3]uint64{7 << 11, 7 << 11, 7 << 11}}}}
	journal := []ContainerHistory{{Container: newC, LastRead: now,
		Clock: proc.CPUClockState{Lines: []proc.CPUTimes{{Idle: 50}}, Uptime: 0.5, Seeded: true}}}
	got := newerClocks(saved, journal)
	if len(got) != 1 || got[0].Container.InitStart != newC.InitStart || got[0].Clock.Uptime != 0.5 || got[0].Load != nil {
		t.Errorf("merged %+v, want the new container's entry alone", got)
	}
}
