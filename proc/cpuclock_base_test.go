package proc

import "testing"

// TestCPUClockFirstAdvanceInReusedCgroup: a container's first /proc/stat in a cgroup that still
// counts an earlier container's CPU time leaves that time out (SetBase), unless the cgroup
// counts from zero again, and its lines never total more than its uptime.
func TestCPUClockFirstAdvanceInReusedCgroup(t *testing.T) {
	for _, tt := range []struct {
		name               string
		baseUser, baseSys  uint64
		user, system       uint64
		uptime             float64
		wantUser, wantBusy uint64 // of the aggregate
	}{
		{"kept cgroup", 4000, 1000, 4020, 1010, 0.5, 20, 30},
		{"cgroup created anew", 4000, 1000, 30, 10, 0.5, 30, 40},
		{"no base, time before the init", 0, 0, 300, 100, 0.5, 75, 100},
		{"no base", 0, 0, 30, 10, 0.5, 30, 40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c CPUClock
			c.SetBase(tt.baseUser, tt.baseSys)
			lines := c.Advance(CPUSample{Uptime: tt.uptime, CPUs: 2, UserTicks: tt.user, SystemTicks: tt.system})
			sum := sumTimes(lines)
			if sum.User != tt.wantUser || sum.User+sum.System != tt.wantBusy {
				t.Errorf("first lines %+v: user %d busy %d, want %d and %d", lines, sum.User, sum.User+sum.System, tt.wantUser, tt.wantBusy)
			}
			// The first line takes the remainders of the even split: a tick each of user and
			// system over at most.
			for i, l := range lines {
				if total := l.User + l.System + l.Idle; total < 50 || total > 52 {
					t.Errorf("cpu%d %+v totals %d ticks at 0.5 s, want 50", i, l, total)
				}
			}
			// Later advances count the cgroup's own advance, base or not.
			u, s := c.Totals()
			next := c.Advance(CPUSample{Uptime: tt.uptime + 1, CPUs: 2, UserTicks: u + 40, SystemTicks: s + 20})
			if d := sumTimes(next).User - sum.User; d != 40 {
				t.Errorf("user advanced %d ticks, want 40", d)
			}
		})
	}
}
