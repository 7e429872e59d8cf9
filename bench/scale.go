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
	stale       int       // containers whose loadavg went unchanged longer than staleAfter
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

// scale runs o.containers containers at once against procfsd and LXCFS (both started afresh,
// side by side, and read alternately by every container, so both see the same load):
// o.scaleFor of reading, then 15 s with no reads, during which only the loadavg samplers work.
func scale(o options, top, self, dir string, rep *report, start func(*daemon, error) (*daemon, error)) error {
	pd, err := start(startProcfsd(o, dir, "procfsd-scale"))
	if err != nil {
		return err
	}
	lx, err := start(startLxcfs(o, dir, "lxcfs-scale"))
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: scale: creating %d containers\n", o.containers)
	goR, goW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer goR.Close()
	targets := []string{"procfsd=" + pd.path, "lxcfs=" + lx.path}
	outs := make([]*bufio.Reader, o.containers)
	cmds := make([]*exec.Cmd, o.containers)
	defer func() {
		removeTree(path.Join(top, "scale")) // kills every container
		for _, c := range cmds {
			if c != nil {
				c.Wait()
			}
		}
	}()
	holdWindow := max(o.scaleFor-holdFor-5*time.Second, time.Second)
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	for i := range o.containers {
		cg := path.Join(top, "scale", fmt.Sprintf("c%04d", i))
		if err := makeCgroup(cg, cgLimits{memory: 256 << 20}); err != nil {
			goW.Close()
			return err
		}
		phase := time.Second * time.Duration(i) / time.Duration(o.containers)
		holdAt := 5*time.Second + holdWindow*time.Duration(i)/time.Duration(o.containers)
		argv := []string{self, "join", cg, "unshare", "--pid", "--fork", "--kill-child", o.scaleAgent,
			"-f", strings.Join(scaleFiles, ","), "-p", ms(phase), "-r", ms(o.scaleFor),
			"-b", ms(holdAt), "-d", ms(holdFor), "-w", ms(memberWarmup)}
		for _, t := range targets {
			argv = append(argv, "-t", t)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.ExtraFiles = []*os.File{goR}
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			goW.Close()
			return err
		}
		if err := cmd.Start(); err != nil {
			goW.Close()
			return fmt.Errorf("start container %d: %w", i, err)
		}
		cmds[i], outs[i] = cmd, bufio.NewReader(out)
		if (i+1)%100 == 0 {
			fmt.Fprintf(os.Stderr, "bench: scale: %d containers started\n", i+1)
		}
	}
	time.Sleep(2 * time.Second) // let the last inits reach the start pipe; a late one only reads less
	fmt.Fprintf(os.Stderr, "bench: scale: reading for %s\n", o.scaleFor)
	goW.Close()
	time.Sleep(memberWarmup)
	t0, p0, l0 := time.Now(), pd.ticks(), lx.ticks()
	rss := map[string]uint64{}
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
		for _, d := range []*daemon{pd, lx} {
			rss[d.name] = max(rss[d.name], d.rssKiB())
		}
	}
	t1, p1, l1 := time.Now(), pd.ticks(), lx.ticks()
	var got []memberResult
	deadline := time.After(30*time.Second + memberWarmup)
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
	t2, p2, l2 := time.Now(), pd.ticks(), lx.ticks()
	time.Sleep(idleFor)
	t3, p3, l3 := time.Now(), pd.ticks(), lx.ticks()
	for _, d := range []*daemon{pd, lx} {
		rss[d.name] = max(rss[d.name], d.rssKiB())
	}
	share := func(ticks uint64, d time.Duration) float64 { return float64(ticks) / 100 / d.Seconds() * 100 }
	for _, x := range []struct {
		name, key  string
		read, idle float64
		d          *daemon
	}{
		{"procfsd", "procfsd", share(p1-p0, t1.Sub(t0)), share(p3-p2, t3.Sub(t2)), pd},
		{"LXCFS -l", "lxcfs", share(l1-l0, t1.Sub(t0)), share(l3-l2, t3.Sub(t2)), lx},
	} {
		r := scaleResult{name: x.name, containers: o.containers, readShare: x.read, idleShare: x.idle,
			rssMaxKiB: rss[x.d.name], interval: o.interval, readFor: o.scaleFor, idleFor: idleFor,
			filesPerSec: len(scaleFiles)}
		if x.key == "lxcfs" {
			r.interval = 5 * time.Second // fixed in LXCFS (FLUSH_TIME in src/proc_loadavg.c)
		}
		for _, m := range got {
			r.reads += m.Reads[x.key]
			r.errs += m.Errors[x.key]
			if r.firstErr == "" && m.Err != "" {
				r.firstErr = m.Err
			}
			v, ok := m.Gap[x.key]
			if !ok || !m.Held || !m.End {
				r.unmeasured++
				continue
			}
			r.gaps = append(r.gaps, v)
			if v > staleAfter.Seconds() {
				r.stale++
				if r.stale <= 3 {
					fmt.Fprintf(os.Stderr, "bench: scale: %s loadavg unchanged for %.1f s: %v\n", x.name, v, m.Trace[x.key])
				}
			}
		}
		r.unmeasured += o.containers - len(got)
		slices.Sort(r.gaps)
		rep.scale = append(rep.scale, r)
	}
	return nil
}

// scaleTable renders the scale run.
func scaleTable(rs []scaleResult) string {
	var b strings.Builder
	r0 := rs[0]
	fmt.Fprintf(&b, "\n### %d containers (scale run)\n\n", r0.containers)
	fmt.Fprintf(&b, "Every container (4 live processes: unshare, its init, two sleepers) reads %s from each daemon "+
		"once per second for %s (both daemons side by side, each read by its own thread of the init, a C program, "+
		"bench/scaleagent, so that one daemon's stalls never delay the other's readings and the readers cost the machine "+
		"little); then nobody reads for %s, so each daemon's CPU is its loadavg sampling alone. Freshness: at a time spread "+
		"over the run, each container holds four processes in state D for %s (vfork parents: counted by every load average, "+
		"at no CPU cost), which moves its load averages; the harness finds the longest time its 1-minute load went "+
		"unchanged meanwhile (read once per second, so up to 1 s of it is the reader's). Stale: unchanged for more than %s, "+
		"two intervals.\n\n",
		strings.Join(scaleFiles, ", "), r0.readFor, r0.idleFor, holdFor, staleAfter)
	fmt.Fprintf(&b, "| daemon | reads (errors) | CPU while read, %% of a core | **CPU sampling only, %% of a core** | **max RSS** | longest unchanged loadavg p50 / p99 / max | **stale containers** | not measured | interval |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		q := func(p float64) string {
			if len(r.gaps) == 0 {
				return "–"
			}
			return fmt.Sprintf("%.1f", r.gaps[min(len(r.gaps)-1, int(p*float64(len(r.gaps))))])
		}
		fmt.Fprintf(&b, "| %s | %d (%d) | %.1f | %.2f | %.1f MiB | %s / %s / %s s | %d of %d | %d | %s |\n", r.name, r.reads, r.errs,
			r.readShare, r.idleShare, float64(r.rssMaxKiB)/1024, q(0.5), q(0.99), q(1), r.stale, r.containers, r.unmeasured, r.interval)
	}
	for _, r := range rs {
		if r.firstErr != "" {
			fmt.Fprintf(&b, "\nFirst error (%s run): `%s`\n", r.name, r.firstErr)
		}
	}
	return b.String()
}
