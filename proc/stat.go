package proc

import (
	"bytes"
	"fmt"
	"strconv"

	"procfsd/cgroupview"
)

// /proc/stat (kernel fs/proc/stat.c show_stat). docs/behaviour.md §2.3: the host's "cpu" and "cpuN"
// lines are replaced by the container's, numbered 0..N-1 like cpuinfo, with the aggregate first and
// equal to their sum; procs_running and procs_blocked are the container's; intr, ctxt, btime,
// processes and softirq pass through in the host's order (LXCFS leaks procs_*: lxc/lxcfs#654).

// CPUTimes is one CPU line in USER_HZ ticks. nice, iowait, irq, softirq, steal and guest are 0:
// the cgroup accounts only user and system time.
type CPUTimes struct{ User, System, Idle uint64 }

// RenderStat appends the container's /proc/stat with one "cpuK" line per element of cpus.
func RenderStat(w *bytes.Buffer, host []byte, cpus []CPUTimes, t cgroupview.Tasks) error {
	start := w.Len()
	w.Grow(len(host))
	seenCPU := false
	for rest := host; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		switch {
		case isCPULine(line):
			if !seenCPU {
				writeCPULines(w, cpus)
				seenCPU = true
			}
		case bytes.HasPrefix(line, []byte("procs_running ")):
			writeStatCount(w, "procs_running ", t.Running)
		case bytes.HasPrefix(line, []byte("procs_blocked ")):
			writeStatCount(w, "procs_blocked ", t.Blocked)
		default:
			w.Write(line)
		}
	}
	if !seenCPU {
		w.Truncate(start)
		return fmt.Errorf("parse stat: no cpu line: %w", errMalformed)
	}
	return nil
}

// isCPULine matches "cpu " and "cpuN ".
func isCPULine(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("cpu")) {
		return false
	}
	i := 3
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	return i < len(line) && line[i] == ' '
}

// writeCPULines writes the aggregate ("cpu  ", two spaces as show_stat's seq_put_decimal_ull
// prefix) and one line per CPU, each with show_stat's ten fields.
func writeCPULines(w *bytes.Buffer, cpus []CPUTimes) {
	var sum CPUTimes
	for _, c := range cpus {
		sum.User += c.User
		sum.System += c.System
		sum.Idle += c.Idle
	}
	w.WriteString("cpu ")
	writeCPUFields(w, sum)
	for i, c := range cpus {
		w.WriteString("cpu")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(i), 10))
		writeCPUFields(w, c)
	}
}

func writeCPUFields(w *bytes.Buffer, c CPUTimes) {
	for _, v := range [...]uint64{c.User, 0, c.System, c.Idle} {
		w.WriteByte(' ')
		w.Write(strconv.AppendUint(w.AvailableBuffer(), v, 10))
	}
	w.WriteString(" 0 0 0 0 0 0\n")
}

func writeStatCount(w *bytes.Buffer, label string, n int) {
	w.WriteString(label)
	w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(max(n, 0)), 10))
	w.WriteByte('\n')
}

// userHZ is the tick rate of /proc/stat (USER_HZ, 100 on every architecture Linux supports).
const userHZ = 100

// CPUSample is what CPUClock.Advance needs from one read: the container's age, its visible CPU
// count and its lifetime CPU time.
type CPUSample struct {
	Uptime      float64 // seconds since the container's init started
	CPUs        int     // visible CPUs now
	UserTicks   uint64  // container CPU time, USER_HZ ticks
	SystemTicks uint64
}

// CPUClock is one container's /proc/stat history. cgroup v2 reports only the container's total
// CPU time (cpu.stat), and cgroup v1's per-host-CPU figures do not map onto renumbered CPUs, so
// the per-CPU lines are a model kept here that satisfies docs/behaviour.md §2.3's invariants:
//   - every counter of every line, and so of the aggregate, only grows, also when the CPU count
//     shrinks (the vanished lines' counters are folded into the remaining ones) or grows (a new
//     line starts idle for the container's whole uptime);
//   - over any interval the user and system advance of all lines together is the container's
//     CPU-time advance, split evenly over the lines (the remainder on cpu0);
//   - idle absorbs the rest of the wall time, so that a line's user+system+idle is about
//     uptime × USER_HZ, consistent with /proc/uptime; it never decreases.
//
// The first Advance spreads the container's lifetime totals over its lines. The zero value is
// ready to use; the caller serialises calls.
type CPUClock struct {
	lines        []CPUTimes
	user, system uint64  // the container's totals at the last Advance
	uptime       float64 // the largest uptime seen: a clock read may go back by float noise
	seeded       bool
	// baseUser and baseSystem are CPU time its cgroup had counted before the container
	// started (SetBase).
	baseUser, baseSystem uint64
}

// SetBase tells an unseeded clock that its cgroup counted user and system ticks for an earlier
// container (one whose init has exited, in the same cgroup path): the first Advance leaves them
// out when the cgroup's totals still include them, that is unless the cgroup was created anew
// and counts from zero again.
func (c *CPUClock) SetBase(user, system uint64) { c.baseUser, c.baseSystem = user, system }

// Totals returns the container's CPU time at the last Advance, in USER_HZ ticks.
func (c *CPUClock) Totals() (user, system uint64) { return c.user, c.system }

// Advance moves the model to sample s and returns the lines to render, one per visible CPU.
func (c *CPUClock) Advance(s CPUSample) []CPUTimes {
	n := max(s.CPUs, 1)
	up := c.uptime
	if s.Uptime > up { // also false for NaN
		up = s.Uptime
	}
	if !c.seeded {
		c.lines = make([]CPUTimes, n)
		user, system := s.UserTicks, s.SystemTicks
		if user+system >= c.baseUser+c.baseSystem {
			user, system = grown(user, c.baseUser), grown(system, c.baseSystem)
		}
		// A container cannot have run longer than its uptime on each of its CPUs; more means
		// CPU time its cgroup counted before the init started (a reused cgroup), which
		// would push the lines past uptime × USER_HZ.
		if most := wallTicks(up) * uint64(n); most > 0 && user+system > most {
			f := float64(most) / float64(user+system)
			user, system = uint64(float64(user)*f), uint64(float64(system)*f)
		}
		spread(c.lines, user, system)
		c.seeded = true
	} else {
		c.resize(n, up)
		spread(c.lines, grown(s.UserTicks, c.user), grown(s.SystemTicks, c.system))
	}
	c.user, c.system, c.uptime = s.UserTicks, s.SystemTicks, up
	wall := wallTicks(up)
	for i := range c.lines {
		l := &c.lines[i]
		if busy := l.User + l.System; wall > busy && wall-busy > l.Idle {
			l.Idle = wall - busy
		}
	}
	return append([]CPUTimes(nil), c.lines...)
}

// resize folds the lines of CPUs that vanished into the remaining ones, or appends lines for new
// CPUs that have been idle since the container started.
func (c *CPUClock) resize(n int, up float64) {
	for k := n; k < len(c.lines); k++ {
		d, v := &c.lines[k%n], c.lines[k]
		d.User, d.System, d.Idle = d.User+v.User, d.System+v.System, d.Idle+v.Idle
	}
	for len(c.lines) < n {
		c.lines = append(c.lines, CPUTimes{Idle: wallTicks(up)})
	}
	c.lines = c.lines[:n]
}

// spread adds user and system ticks evenly to lines, the remainder to the first.
func spread(lines []CPUTimes, user, system uint64) {
	n := uint64(len(lines))
	for i := range lines {
		lines[i].User += user / n
		lines[i].System += system / n
	}
	lines[0].User += user % n
	lines[0].System += system % n
}

// grown is the advance of a counter; a counter that went back (the cgroup was recreated under
// the same name) restarts from its new value without moving the lines back.
func grown(now, before uint64) uint64 {
	if now < before {
		return 0
	}
	return now - before
}

// wallTicks converts seconds to USER_HZ ticks, bounded so the conversion cannot overflow.
func wallTicks(sec float64) uint64 {
	const maxSec = 1 << 50 / userHZ
	if !(sec > 0) {
		return 0
	}
	return uint64(min(sec, maxSec) * userHZ)
}

// CPUClockState is a CPUClock's history as plain data, so that a successor process (handover,
// restart, crash) continues the counters instead of seeding them afresh, which would move
// per-CPU lines (docs/behaviour.md §2.3 monotonic, §5 live handover).
type CPUClockState struct {
	Lines  []CPUTimes `json:"lines"`
	User   uint64     `json:"user"`
	System uint64     `json:"system"`
	Uptime float64    `json:"uptime"`
	Seeded bool       `json:"seeded"`
}

// Snapshot returns the clock's history; the caller serialises it with Advance.
func (c *CPUClock) Snapshot() CPUClockState {
	return CPUClockState{Lines: append([]CPUTimes(nil), c.lines...), User: c.user, System: c.system,
		Uptime: c.uptime, Seeded: c.seeded}
}

// Restore replaces the clock's history with s. A state without lines is an unseeded clock.
func (c *CPUClock) Restore(s CPUClockState) {
	*c = CPUClock{}
	if !s.Seeded || len(s.Lines) == 0 {
		return
	}
	c.lines = append([]CPUTimes(nil), s.Lines...)
	c.user, c.system, c.uptime, c.seeded = s.User, s.System, s.Uptime, true
}
