package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const sec = int64(time.Second)

// loadReadings makes one loadavg reading of target per second from second first on, each due on
// the second, started 10 ms late and taking 1 ms, showing loads[i] at second first+i.
func loadReadings(target string, first int64, loads ...string) []agentReading {
	var rs []agentReading
	for i, l := range loads {
		due := (first + int64(i)) * sec
		rs = append(rs, agentReading{target: target, file: "loadavg", due: due, start: due + 10e6,
			end: due + 11e6, load1: l})
	}
	return rs
}

// TestUnchangedFor: the longest time the load went unchanged during the hold, from the hold's
// start, between changes and to its end; readings before the hold only set the load it starts
// from.
func TestUnchangedFor(t *testing.T) {
	for _, tc := range []struct {
		name       string
		loads      []string // one a second from second 0; the hold is from 2 s to 12 s
		want       time.Duration
		wantProven time.Duration
		wantSeen   bool
	}{
		// Changes seen at 3.011 and 8.011 s; 0.40 read last at 7.010 s, 0.70 at 12.010 s, which
		// began after the hold.
		{"a change every 5 s", []string{"0.10", "0.10", "0.10", "0.40", "0.40", "0.40", "0.40", "0.40", "0.70", "0.70", "0.70", "0.70", "0.70", "0.90"},
			5 * time.Second, 4*time.Second - time.Millisecond, true},
		// 0.10 from the hold's start to the last reading in it, at 11.010 s.
		{"never changes", []string{"0.10", "0.10", "0.10", "0.10", "0.10", "0.10", "0.10", "0.10", "0.10", "0.10", "0.10", "0.10", "0.10"},
			10 * time.Second, 9*time.Second + 10*time.Millisecond, true},
		{"changed at once, then not", []string{"0.10", "0.10", "0.50", "0.50", "0.50", "0.50", "0.50", "0.50", "0.50", "0.50", "0.50", "0.50", "0.50"},
			10*time.Second - 11*time.Millisecond, 9*time.Second - time.Millisecond, true}, // 2.011 s to 12 s; to 11.010 s
		{"no reading in the hold", []string{"0.10"}, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, proven, seen := unchangedFor(loadReadings("d", 0, tc.loads...), 2*sec, 12*sec)
			if got != tc.want || proven != tc.wantProven || seen != tc.wantSeen {
				t.Errorf("unchangedFor = %v, %v, %v; want %v, %v, %v", got, proven, seen, tc.want, tc.wantProven, tc.wantSeen)
			}
		})
	}
}

// TestUnchangedForLateReader: a reader that fell 8 s behind (its readings late, not the daemon's
// answers) makes the seen gap long, but proves only what its readings show.
func TestUnchangedForLateReader(t *testing.T) {
	ls := loadReadings("d", 0, "0.10", "0.10", "0.40", "0.40", "0.40")
	late := agentReading{target: "d", file: "loadavg", due: 5 * sec, start: 13 * sec, end: 13*sec + 1e6, load1: "0.90"}
	ls = append(ls, late)
	gap, proven, _ := unchangedFor(ls, 2*sec, 20*sec)
	if gap != 11*time.Second-10*time.Millisecond || proven != 2*time.Second-time.Millisecond {
		t.Errorf("gap %v, proven %v; want 10.99 s seen (2.011 to 13.001 s) and 1.999 s proven (2.011 to 4.010 s)", gap, proven)
	}
}

// TestParseAndJudgeAgent: an agent's report, parsed and judged: reads and errors per daemon, a
// gap per daemon, the first error, and a trace only for a daemon gone stale.
func TestParseAndJudgeAgent(t *testing.T) {
	var b strings.Builder
	fresh := loadReadings("procfsd", 0, "0.00", "0.00", "0.30", "0.30", "0.30", "0.30", "0.30", "0.60",
		"0.60", "0.60", "0.60", "0.60", "0.90", "0.90", "0.90", "0.90", "0.90", "1.10", "1.10", "1.10")
	stale := loadReadings("lxcfs", 0, "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00",
		"0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.20", "0.20", "0.20", "0.20", "0.20", "0.20")
	for _, r := range append(fresh, stale...) {
		fmt.Fprintf(&b, "read %s %s %d %d %d 0 %s\n", r.target, r.file, r.due, r.start, r.end, r.load1)
		fmt.Fprintf(&b, "read %s meminfo %d %d %d 0 -\n", r.target, r.due, r.end, r.end+1e6)
	}
	b.WriteString("read lxcfs meminfo 0 1 2 5 -\n") // EIO
	fmt.Fprintf(&b, "hold %d %d\nend\n", 2*sec, 18*sec)
	b.WriteString("read ignored after the end line\n")

	reads, from, to, held, end, errs, err := parseAgent(strings.NewReader(b.String()))
	if err != nil || !held || !end || from != 2*sec || to != 18*sec || len(errs) != 0 || len(reads) != 81 {
		t.Fatalf("parseAgent: %d reads, hold %d..%d (%v), end %v, errors %q, %v", len(reads), from, to, held, end, errs, err)
	}
	m := judgeMember(reads, from, to, held, end, errs)
	if m.Reads["procfsd"] != 40 || m.Reads["lxcfs"] != 41 || m.Errors["procfsd"] != 0 || m.Errors["lxcfs"] != 1 {
		t.Errorf("reads %v, errors %v; want procfsd 40 and lxcfs 41 reads, one lxcfs error", m.Reads, m.Errors)
	}
	if m.Err != "lxcfs meminfo: errno 5" {
		t.Errorf("first error %q", m.Err)
	}
	// procfsd changed at 2.011, 7.011, 12.011 and 17.011 s: at most 5 s unchanged.
	if g := m.Gap["procfsd"]; g < 4.99 || g > 5.01 || len(m.Trace["procfsd"]) != 0 {
		t.Errorf("procfsd gap %.3f s, trace %q; want 5 s and no trace", g, m.Trace["procfsd"])
	}
	// LXCFS stood still from the hold's start at 2 s to 14.011 s.
	if g := m.Gap["lxcfs"]; g < 12.0 || g > 12.02 || len(m.Trace["lxcfs"]) != 20 {
		t.Errorf("lxcfs gap %.3f s, %d trace entries; want 12.011 s and every reading traced", g, len(m.Trace["lxcfs"]))
	}
	if want := "0.0s(late 10ms, took 1.0ms):0.00"; m.Trace["lxcfs"][2] != want {
		t.Errorf("trace entry %q, want %q", m.Trace["lxcfs"][2], want)
	}
}

// TestJudgeStuckRead: a read still unanswered when the agent reported counts as a read and an
// error, and says so.
func TestJudgeStuckRead(t *testing.T) {
	in := "read d loadavg 0 10 20 0 0.10\nstuck d meminfo 1000000000 1500000000\nend\n"
	reads, from, to, held, end, errs, err := parseAgent(strings.NewReader(in))
	if err != nil || len(reads) != 2 || !reads[1].stuck {
		t.Fatalf("parseAgent: %+v, %v", reads, err)
	}
	m := judgeMember(reads, from, to, held, end, errs)
	if m.Reads["d"] != 2 || m.Errors["d"] != 1 || m.Err != "d meminfo: no answer (read began 1.5 s after the first)" {
		t.Errorf("reads %v, errors %v, first error %q", m.Reads, m.Errors, m.Err)
	}
}

// TestParseAgentIncomplete: a report cut short says so, and a malformed line is an error.
func TestParseAgentIncomplete(t *testing.T) {
	_, _, _, held, end, errs, err := parseAgent(strings.NewReader("read d loadavg 0 1 2 0 0.10\nerror hold: No child processes\n"))
	if err != nil || held || end || len(errs) != 1 || errs[0] != "hold: No child processes" {
		t.Errorf("cut short: held %v, end %v, errors %q, %v", held, end, errs, err)
	}
	if _, _, _, _, _, _, err := parseAgent(strings.NewReader("read d loadavg x 1 2 0 0.10\n")); err == nil {
		t.Error("a malformed reading gave no error")
	}
}
