package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// holdFor is how long each of a container's four holders stays in state D: four sampling
// intervals, so that the time all four are in D (they wake seconds apart on a saturated
// machine) still spans about three, and a load average sampled on time changes at least twice.
const holdFor = 20 * time.Second

// staleAfter is the scale run's bound (BENCHMARKS.md, "Targets"): a load average at most two
// intervals old.
const staleAfter = 10 * time.Second

// memberWarmup is how long a container waits after the start signal before it reads.
const memberWarmup = 3 * time.Second

// agentGrace is how long after its reading ends an agent waits for reads still unanswered
// before it reports them as such.
const agentGrace = 10 * time.Second

// memberResult is what one scale-run container's agent (bench/scaleagent) saw of each daemon.
type memberResult struct {
	Reads  map[string]int
	Errors map[string]int
	// Gap is, per daemon, the longest time the 1-minute load went without changing while all
	// four of the container's holders were in D (from the hold's start, between changes, and to
	// its end), by the end of the readings that showed the changes: what a reader saw, late or slow
	// readings included. Proven is the part the readings prove: from the end of the first reading
	// of a value (the hold's start for the value from before it) to the start of the last, so a
	// reading that began late does not count against the daemon. A daemon absent from them had
	// no reading during the hold.
	Gap    map[string]float64
	Proven map[string]float64
	Held   bool   // the agent held its processes in D for the whole hold
	End    bool   // the agent's report was complete
	Err    string // the first error the agent or a read reported
	// Trace is the readings of a daemon whose load went stale, for the report.
	Trace map[string][]string
}

// agentReading is one "read" or "stuck" line of the agent: times in ns after its first due
// time.
type agentReading struct {
	target, file    string
	due, start, end int64
	errno           int
	load1           string // the 1-minute load, for loadavg
	stuck           bool   // still unanswered when the agent reported (end and errno unset)
}

// parseAgent reads the agent's report (bench/scaleagent/scale_agent.c) up to its "end" line.
func parseAgent(r io.Reader) (reads []agentReading, holdFrom, holdTo int64, held, end bool, errs []string, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "read" && len(f) == 8:
			var x agentReading
			x.target, x.file, x.load1 = f[1], f[2], f[7]
			nums := []*int64{&x.due, &x.start, &x.end}
			for i, p := range nums {
				if *p, err = strconv.ParseInt(f[3+i], 10, 64); err != nil {
					return nil, 0, 0, false, false, nil, fmt.Errorf("agent line %q: %w", sc.Text(), err)
				}
			}
			if x.errno, err = strconv.Atoi(f[6]); err != nil {
				return nil, 0, 0, false, false, nil, fmt.Errorf("agent line %q: %w", sc.Text(), err)
			}
			reads = append(reads, x)
		case f[0] == "stuck" && len(f) == 5:
			x := agentReading{target: f[1], file: f[2], stuck: true}
			if x.due, err = strconv.ParseInt(f[3], 10, 64); err == nil {
				x.start, err = strconv.ParseInt(f[4], 10, 64)
			}
			if err != nil {
				return nil, 0, 0, false, false, nil, fmt.Errorf("agent line %q: %w", sc.Text(), err)
			}
			reads = append(reads, x)
		case f[0] == "hold" && len(f) == 3:
			if holdFrom, err = strconv.ParseInt(f[1], 10, 64); err == nil {
				holdTo, err = strconv.ParseInt(f[2], 10, 64)
			}
			if err != nil {
				return nil, 0, 0, false, false, nil, fmt.Errorf("agent line %q: %w", sc.Text(), err)
			}
			held = true
		case f[0] == "error":
			errs = append(errs, strings.TrimPrefix(sc.Text(), "error "))
		case f[0] == "end":
			return reads, holdFrom, holdTo, held, true, errs, nil
		default:
			return nil, 0, 0, false, false, nil, fmt.Errorf("agent line %q: unknown", sc.Text())
		}
	}
	return reads, holdFrom, holdTo, held, false, errs, sc.Err()
}

// judgeMember turns an agent's report into its result: reads and errors per daemon, and per
// daemon the longest time its 1-minute load went unchanged during the hold.
func judgeMember(reads []agentReading, holdFrom, holdTo int64, held, end bool, errs []string) memberResult {
	res := memberResult{Reads: map[string]int{}, Errors: map[string]int{}, Gap: map[string]float64{},
		Proven: map[string]float64{}, Trace: map[string][]string{}, Held: held, End: end}
	if len(errs) > 0 {
		res.Err = errs[0]
	}
	loads := map[string][]agentReading{}
	for _, r := range reads {
		res.Reads[r.target]++
		if r.stuck {
			res.Errors[r.target]++
			if res.Err == "" {
				res.Err = fmt.Sprintf("%s %s: no answer (read began %.1f s after the first)", r.target, r.file, float64(r.start)/1e9)
			}
			continue
		}
		if r.errno != 0 {
			res.Errors[r.target]++
			if res.Err == "" {
				res.Err = fmt.Sprintf("%s %s: errno %d", r.target, r.file, r.errno)
			}
			continue
		}
		if r.file == "loadavg" {
			loads[r.target] = append(loads[r.target], r)
		}
	}
	if !held {
		return res
	}
	for target, ls := range loads {
		gap, proven, seen := unchangedFor(ls, holdFrom, holdTo)
		if !seen {
			continue
		}
		res.Gap[target], res.Proven[target] = gap.Seconds(), proven.Seconds()
		if gap > staleAfter {
			for _, r := range ls {
				res.Trace[target] = append(res.Trace[target], traceEntry(r, holdFrom))
			}
		}
	}
	return res
}

// unchangedFor is the longest time the load went unchanged between from and to, by readings in
// the order they were taken: from from (or the last change) to the end of the reading that
// showed a change, and from the last change to to. A reading that began before from shows the
// load from before the hold. proven is the longest time readings prove one value was served:
// from the end of the first reading that showed it (from, for the value from before the hold)
// to the start of the last one. seen is false when no reading began within the hold.
func unchangedFor(ls []agentReading, from, to int64) (gap, proven time.Duration, seen bool) {
	last, changed, since := "", from, from
	for _, r := range ls {
		if r.start < from {
			last = r.load1
			continue
		}
		if r.start > to {
			break
		}
		seen = true
		if r.load1 != last {
			gap = max(gap, time.Duration(r.end-changed))
			changed, since, last = r.end, r.end, r.load1
			continue
		}
		proven = max(proven, time.Duration(r.start-since))
	}
	if seen {
		gap = max(gap, time.Duration(to-changed))
	}
	return gap, proven, seen
}

// traceEntry prints a reading for a stale trace: when it began after the hold's start, how late
// it began after its due time and how long it took, so that a late reading is told from a slow
// answer; then the 1-minute load.
func traceEntry(r agentReading, from int64) string {
	return fmt.Sprintf("%.1fs(late %.0fms, took %.1fms):%s", float64(r.start-from)/1e9,
		float64(r.start-r.due)/1e6, float64(r.end-r.start)/1e6, r.load1)
}
