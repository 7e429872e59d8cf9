package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// burnFor is how long a container's burner runs: three sampling intervals and a bit, so
// that a load average that is sampled on time changes at least twice.
const burnFor = 16 * time.Second

// staleAfter is the bound: a load average at most two intervals old.
const staleAfter = 10 * time.Second

// memberWarmup is how long a container waits after the start signal before it reads.
const memberWarmup = 3 * time.Second

// memberResult is what one scale-run container reports for each daemon it read.
type memberResult struct {
	Reads  map[string]int `json:"reads"`
	Errors map[string]int `json:"errors"`
	// Gap is, per daemon, the longest time the 1-minute load went without changing while the
	// burner ran (from its start, between changes, and to its end).
	Gap    map[string]float64 `json:"gap_s"`
	Burned bool               `json:"burned"` // the burner ran its whole burnFor
	First  string             `json:"first_error,omitempty"`
	// Trace is the 1-minute loads a daemon showed, kept for the report when it never rose.
	Trace map[string][]string `json:"trace,omitempty"`
}

// runMember is the init of one scale-run container. It starts two sleeping processes (with it
// and unshare, four live processes per container), waits for the harness's start signal (EOF
// on descriptor 3), then once per second reads every file from every daemon, each daemon from
// its own thread. At -burn-at it
// starts a CPU burner in the throttled child cgroup -busy (state R, about no CPU) for burnFor,
// which moves every daemon's load average, and records the longest time each daemon's
// 1-minute load went unchanged meanwhile: how stale its loadavg got. After
// -read-for it prints its result and sleeps until the harness kills the container.
func runMember(args []string) error {
	fl := flag.NewFlagSet("member", flag.ContinueOnError)
	targets := fl.String("targets", "", "name=path-template,...")
	files := fl.String("files", "loadavg", "files read every second")
	phase := fl.Duration("phase", 0, "offset of this container's reads within each second")
	burnAt := fl.Duration("burn-at", 0, "when the burner starts, after the start signal")
	busy := fl.String("busy", "", "the throttled cgroup the burner runs in")
	readFor := fl.Duration("read-for", time.Minute, "how long to read")
	if err := fl.Parse(args); err != nil {
		return err
	}
	type tgt struct{ name, tmpl string }
	var tgts []tgt
	for _, t := range strings.Split(*targets, ",") {
		n, p, ok := strings.Cut(t, "=")
		if !ok {
			return fmt.Errorf("bad target %q", t)
		}
		tgts = append(tgts, tgt{n, p})
	}
	for range 2 {
		if err := exec.Command("sleep", "1000000").Start(); err != nil {
			return fmt.Errorf("start sleeper: %w", err)
		}
	}
	var b [1]byte
	for { // the start signal: the harness closes the pipe's other end
		if _, err := unix.Read(3, b[:]); err != unix.EINTR {
			break
		}
	}
	// Every container starts reading after the last one has settled: a daemon that starts a
	// container's load at its current count (procfsd, SPEC §2.4) would otherwise start it at
	// the count of a container still starting its processes.
	time.Sleep(memberWarmup)
	t0 := time.Now()
	res := memberResult{Reads: map[string]int{}, Errors: map[string]int{}, Gap: map[string]float64{},
		Trace: map[string][]string{}}
	// The burner runs from burnAt for burnFor; each daemon is read by its own thread, so that
	// one daemon's slow answers never delay, and so never age, the other's readings.
	var burn burnWindow
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, t := range tgts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := readTarget(t.name, t.tmpl, strings.Split(*files, ","), t0, *phase, *readFor, &burn)
			mu.Lock()
			defer mu.Unlock()
			res.Reads[t.name], res.Errors[t.name] = r.reads, r.errors
			if r.burnSeen {
				res.Gap[t.name] = r.gap
			}
			if r.gap > staleAfter.Seconds() {
				res.Trace[t.name] = r.trace
			}
			if res.First == "" {
				res.First = r.first
			}
		}()
	}
	if *busy != "" && *burnAt < *readFor {
		time.Sleep(time.Until(t0.Add(*burnAt)))
		if burner, err := startBurner(*busy); err != nil {
			mu.Lock()
			res.First = err.Error()
			mu.Unlock()
		} else {
			burn.begin(time.Now())
			time.Sleep(burnFor)
			burn.finish(time.Now())
			stopBurner(burner)
			mu.Lock()
			res.Burned = true
			mu.Unlock()
		}
	}
	wg.Wait()
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return err
	}
	os.Stdout.Close()
	for {
		time.Sleep(time.Hour)
	}
}

// burnWindow is when the burner ran: zero times until it starts and ends.
type burnWindow struct {
	mu       sync.Mutex
	from, to time.Time
}

func (w *burnWindow) begin(t time.Time)  { w.mu.Lock(); w.from = t; w.mu.Unlock() }
func (w *burnWindow) finish(t time.Time) { w.mu.Lock(); w.to = t; w.mu.Unlock() }
func (w *burnWindow) get() (from, to time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.from, w.to
}

// targetResult is what one reading thread saw of one daemon.
type targetResult struct {
	reads, errors int
	first         string
	burnSeen      bool     // it read while the burner ran
	gap           float64  // longest time the 1-minute load went unchanged during the burn
	trace         []string // the loads read during the burn
}

// readTarget reads every file of one daemon once per second, at phase within each second, for
// readFor, on one locked OS thread, as a C monitoring agent does (every read carries the same
// TID). During the burn window it records the longest time the 1-minute load went unchanged:
// from the burner's start, between changes, and to its end.
func readTarget(name, tmpl string, files []string, t0 time.Time, phase, readFor time.Duration, burn *burnWindow) targetResult {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var r targetResult
	var last string
	var changed time.Time
	done := false
	buf := make([]byte, 64<<10)
	for k := 0; ; k++ {
		next := t0.Add(phase + time.Duration(k)*time.Second)
		if next.Sub(t0) >= readFor {
			break
		}
		time.Sleep(time.Until(next))
		start, end := burn.get()
		for _, f := range files {
			n, err := readAll(filePath(tmpl, f), buf)
			r.reads++
			if err != nil {
				r.errors++
				if r.first == "" {
					r.first = fmt.Sprintf("%s: %v", name, err)
				}
				continue
			}
			if f != "loadavg" {
				continue
			}
			load := string(bytes.Fields(buf[:n])[0])
			now := time.Now()
			if !start.IsZero() && !done {
				if !r.burnSeen {
					r.burnSeen, changed = true, start
				}
				r.trace = append(r.trace, fmt.Sprintf("%.1f:%s", now.Sub(start).Seconds(), bytes.TrimSpace(buf[:n])))
				if load != last {
					r.gap = max(r.gap, now.Sub(changed).Seconds())
					changed = now
				}
				if !end.IsZero() { // the time since the last change counts too
					r.gap = max(r.gap, end.Sub(changed).Seconds())
					done = true
				}
			}
			last = load
		}
	}
	return r
}

func allMoved(m map[string]float64) bool {
	for _, v := range m {
		if v < 0 {
			return false
		}
	}
	return true
}

// startBurner runs four busy loops in the cgroup busy, whose CFS quota (shared by the four)
// keeps them runnable (state R, counted by both daemons) while they get about no CPU. Four,
// so that the load moves far from wherever it was and changes visibly at every sample.
func startBurner(busy string) (*exec.Cmd, error) {
	// The shell forks its loops only once it is in busy (it waits for a line on stdin).
	cmd := exec.Command("sh", "-c", "read go; for i in 1 2 3 4; do (while :; do :; done) & done; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start burner: %w", err)
	}
	if err := joinCgroup(busy, cmd.Process.Pid); err != nil {
		stopBurner(cmd)
		return nil, err
	}
	if _, err := in.Write([]byte("go\n")); err != nil {
		stopBurner(cmd)
		return nil, fmt.Errorf("start burner: %w", err)
	}
	return cmd, nil
}

// stopBurner kills the burner's process group (the shell and its loops).
func stopBurner(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	cmd.Process = nil
}

// readAll opens, reads to EOF and closes path; the bytes of the first read are in buf[:n].
func readAll(path string, buf []byte) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	total := 0
	for {
		n, err := unix.Read(fd, buf[total:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return total, fmt.Errorf("read %s: %w", path, err)
		}
		if n == 0 || total+n == len(buf) {
			if total+n == 0 {
				return 0, fmt.Errorf("read %s: empty", path)
			}
			return total + n, nil
		}
		total += n
	}
}
