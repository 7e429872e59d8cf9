package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scaleResult is one daemon's figures in the scale run.
type scaleResult struct {
	name        string
	containers  int
	reads, errs int
	firstErr    string
	readShare   float64 // CPU share of one core while every container reads every second
	idleShare   float64 // CPU share once reading stops: the loadavg sampler alone
	rssMaxKiB   uint64
	gaps        []float64 // per container: the longest time its loadavg went unchanged while moving
	proven      []float64 // the same, as far as its readings prove it (memberResult.Proven)
	stale       int       // containers whose loadavg went unchanged longer than staleAfter
	staleProven int       // the same, by proven time
	unmeasured  int       // containers that reported nothing or whose burner did not run
	interval    time.Duration
	readFor     time.Duration
	idleFor     time.Duration
	filesPerSec int
}

// scaleFiles are read by every container every second, from each daemon: the two files a
// monitoring agent or `top` polls. (All six at once, from both daemons, is 12,000 cold reads a
// second: more than a 2-CPU machine has.)
var scaleFiles = []string{"loadavg", "meminfo"}

// scale runs o.containers containers at once against procfsd, then against LXCFS, each daemon
// started afresh and alone: o.scaleFor of reading, then 15 s with no reads, during which only
// the loadavg sampler works. Alone, because LXCFS can fork for nearly every read at 1000
// containers (when its container-init cache fails its /proc/<pid> ctime check, as on the test
// machines: BENCHMARKS.md), which saturates both CPUs; side by side, that would be procfsd's
// figures too.
func scale(o options, top, self, dir string, rep *report, start func(*daemon, error) (*daemon, error)) error {
	for _, x := range []struct {
		name, key string
		run       func(o options, dir, name string) (*daemon, error)
	}{
		{"procfsd", "procfsd", startProcfsd},
		{"LXCFS -l", "lxcfs", startLxcfs},
	} {
		if x.key == "lxcfs" && !o.scaleLxcfs {
			continue
		}
		d, err := start(x.run(o, dir, x.key+"-scale"))
		if err != nil {
			return err
		}
		r, err := scaleOne(o, path.Join(top, "scale-"+x.key), self, d, x.key)
		d.stop()
		if err != nil {
			return err
		}
		r.name = x.name
		if x.key == "lxcfs" {
			r.interval = 5 * time.Second // fixed in LXCFS (FLUSH_TIME in src/proc_loadavg.c)
		}
		rep.scale = append(rep.scale, r)
	}
	return nil
}

// scaleOne is the scale run of one daemon d, whose agents call it key, with its containers
// under the cgroup top.
func scaleOne(o options, top, self string, d *daemon, key string) (scaleResult, error) {
	fmt.Fprintf(os.Stderr, "bench: scale: %s: creating %d containers\n", key, o.containers)
	goR, goW, err := os.Pipe()
	if err != nil {
		return scaleResult{}, err
	}
	defer goR.Close()
	defer goW.Close()
	outs := make([]*bufio.Reader, o.containers)
	cmds := make([]*exec.Cmd, o.containers)
	defer func() {
		removeTree(top) // kills every container
		for _, c := range cmds {
			if c != nil {
				c.Wait()
			}
		}
	}()
	holdWindow := max(o.scaleFor-holdFor-5*time.Second, time.Second)
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	for i := range o.containers {
		cg := path.Join(top, fmt.Sprintf("c%04d", i))
		if err := makeCgroup(cg, cgLimits{memory: 256 << 20}); err != nil {
			return scaleResult{}, err
		}
		phase := time.Second * time.Duration(i) / time.Duration(o.containers)
		holdAt := 5*time.Second + holdWindow*time.Duration(i)/time.Duration(o.containers)
		cmd := exec.Command(self, "join", cg, "unshare", "--pid", "--fork", "--kill-child", o.scaleAgent,
			"-t", key+"="+d.path, "-f", strings.Join(scaleFiles, ","), "-p", ms(phase), "-r", ms(o.scaleFor),
			"-b", ms(holdAt), "-d", ms(holdFor), "-w", ms(memberWarmup), "-g", ms(agentGrace))
		cmd.ExtraFiles = []*os.File{goR}
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return scaleResult{}, err
		}
		if err := cmd.Start(); err != nil {
			return scaleResult{}, fmt.Errorf("start container %d: %w", i, err)
		}
		cmds[i], outs[i] = cmd, bufio.NewReader(out)
		if (i+1)%100 == 0 {
			fmt.Fprintf(os.Stderr, "bench: scale: %d containers started\n", i+1)
		}
	}
	time.Sleep(2 * time.Second) // let the last inits reach the start pipe; a late one only reads less
	fmt.Fprintf(os.Stderr, "bench: scale: %s: reading for %s\n", key, o.scaleFor)
	goW.Close()
	time.Sleep(memberWarmup)
	t0, c0 := time.Now(), d.ticks()
	var rss uint64
	results := make(chan memberResult, o.containers)
	for i := range o.containers {
		go func() {
			reads, from, to, held, end, errs, err := parseAgent(outs[i])
			if err != nil {
				errs = append(errs, err.Error())
			}
			r := judgeMember(reads, from, to, held, end, errs)
			if r.Err != "" {
				r.Err = fmt.Sprintf("container %d: %s", i, r.Err)
			}
			results <- r
		}()
	}
	for time.Since(t0) < o.scaleFor {
		time.Sleep(time.Second)
		rss = max(rss, d.rssKiB())
	}
	t1, c1 := time.Now(), d.ticks()
	var got []memberResult
	deadline := time.After(agentGrace + 10*time.Second)
collect:
	for len(got) < o.containers {
		select {
		case r := <-results:
			got = append(got, r)
		case <-deadline:
			break collect
		}
	}
	const idleFor = 15 * time.Second
	t2, c2 := time.Now(), d.ticks()
	time.Sleep(idleFor)
	t3, c3 := time.Now(), d.ticks()
	rss = max(rss, d.rssKiB())
	share := func(ticks uint64, d time.Duration) float64 { return float64(ticks) / 100 / d.Seconds() * 100 }
	r := scaleResult{containers: o.containers, readShare: share(c1-c0, t1.Sub(t0)),
		idleShare: share(c3-c2, t3.Sub(t2)), rssMaxKiB: rss, interval: o.interval, readFor: o.scaleFor,
		idleFor: idleFor, filesPerSec: len(scaleFiles)}
	for _, m := range got {
		r.reads += m.Reads[key]
		r.errs += m.Errors[key]
		if r.firstErr == "" && m.Err != "" {
			r.firstErr = m.Err
		}
		v, ok := m.Gap[key]
		if !ok || !m.Held || !m.End {
			r.unmeasured++
			continue
		}
		r.gaps, r.proven = append(r.gaps, v), append(r.proven, m.Proven[key])
		if m.Proven[key] > staleAfter.Seconds() {
			r.staleProven++
		}
		if v > staleAfter.Seconds() {
			r.stale++
			if r.stale <= 3 {
				fmt.Fprintf(os.Stderr, "bench: scale: %s loadavg unchanged for %.1f s: %v\n", key, v, m.Trace[key])
			}
		}
	}
	r.unmeasured += o.containers - len(got)
	slices.Sort(r.gaps)
	slices.Sort(r.proven)
	return r, nil
}

// scaleTable renders the scale run.
func scaleTable(rs []scaleResult) string {
	var b strings.Builder
	r0 := rs[0]
	fmt.Fprintf(&b, "\n### %d containers (scale run)\n\n", r0.containers)
	fmt.Fprintf(&b, "Each daemon alone, started afresh: every container (its init, a C program, bench/scaleagent, "+
		"two sleepers and four holders besides unshare) reads %s once per second for %s; then nobody reads for %s, so the "+
		"daemon's CPU is its loadavg sampling alone. A read still unanswered %s after the reading ended counts as an error. "+
		"Freshness: at a time spread over the run, each container holds its four holders in state D for %s each (vfork "+
		"parents: counted by every load average, at no CPU cost), which moves its load averages; while all four are in D "+
		"(they wake up to seconds apart), the harness finds the longest time its 1-minute load went unchanged, seen (from the reading that showed a change to the "+
		"one that showed the next: late or slow readings count) and proven (from the end of the first reading of a value to "+
		"the start of the last: what the daemon demonstrably served). Stale: unchanged for more than %s, two intervals.\n\n",
		strings.Join(scaleFiles, ", "), r0.readFor, r0.idleFor, agentGrace, holdFor, staleAfter)
	fmt.Fprintf(&b, "| daemon | reads (errors) | CPU while read, %% of a core | **CPU sampling only, %% of a core** | **max RSS** | unchanged loadavg seen p50 / p99 / max | stale seen | unchanged proven p50 / p99 / max | **stale proven** | not measured | interval |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		q := func(v []float64) string {
			if len(v) == 0 {
				return "– / – / –"
			}
			at := func(p float64) float64 { return v[min(len(v)-1, int(p*float64(len(v))))] }
			return fmt.Sprintf("%.1f / %.1f / %.1f", at(0.5), at(0.99), at(1))
		}
		fmt.Fprintf(&b, "| %s | %d (%d) | %.1f | %.2f | %.1f MiB | %s s | %d of %d | %s s | %d of %d | %d | %s |\n", r.name,
			r.reads, r.errs, r.readShare, r.idleShare, float64(r.rssMaxKiB)/1024, q(r.gaps), r.stale, r.containers,
			q(r.proven), r.staleProven, r.containers, r.unmeasured, r.interval)
	}
	for _, r := range rs {
		if r.firstErr != "" {
			fmt.Fprintf(&b, "\nFirst error (%s run): `%s`\n", r.name, r.firstErr)
		}
	}
	return b.String()
}
