package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readerConfig is what the harness asks of the reader, which runs inside the container (its
// cgroup and a new PID namespace) and measures there.
type readerConfig struct {
	Targets []readerTarget `json:"targets"`
	Files   []string       `json:"files"`
	Par     []int          `json:"par"`    // reader counts, e.g. [1, 8]
	Ops     []int          `json:"ops"`    // reads per (target, file) for each Par
	Rounds  int            `json:"rounds"` // the reads are split into this many interleaved batches
	// GoSyscalls reads through Go's system call wrappers instead of raw system calls on a
	// locked thread. The programs that read these files (free, top, uptime, cat, most agents)
	// are C: while one waits for the daemon, its CPU may go idle, and the daemon's answer must
	// wake it. Go's runtime instead keeps a thread spinning while a goroutine is in a system
	// call, which hides that cost (harness flag -go-reader).
	GoSyscalls bool `json:"go_syscalls"`
}

// atFDCWD is AT_FDCWD (-100) as a system call argument.
var atFDCWD = uintptr(^uint(99))

// goSyscalls is readerConfig.GoSyscalls of this reader process.
var goSyscalls bool

// readerTarget is one source of files: Path has %s for the file name ("/proc/%s"); StatFD, if
// not 0, is an inherited descriptor of the serving daemon's /proc/<pid>/stat (opened in the
// host PID namespace, so it keeps naming the daemon here), read around every batch.
type readerTarget struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	StatFD int    `json:"stat_fd"`
}

// readerResult is one (target, file, readers) cell.
type readerResult struct {
	Target   string  `json:"target"`
	File     string  `json:"file"`
	Par      int     `json:"par"`
	Ops      int     `json:"ops"`
	P50      float64 `json:"p50_us"`
	P99      float64 `json:"p99_us"`
	WallSec  float64 `json:"wall_s"`    // sum of the batches' wall time
	CPUTicks uint64  `json:"cpu_ticks"` // daemon utime+stime over the batches, USER_HZ
	Errors   int     `json:"errors"`
	FirstErr string  `json:"first_error,omitempty"`
}

type cell struct {
	lat   []time.Duration
	wall  time.Duration
	ticks uint64
	errs  int
	first string
}

// runReader measures every (target, file, par) cell in rounds. Each round visits every (file,
// par) in a fresh random order. With one reader the targets take turns read by read, so that
// the machine's load (other programs, frequency changes) hits every target alike; with par
// readers each target runs its own batch, in random order, since throughput needs the batch's
// wall time to itself. A daemon's CPU time is the change of its own counters over the batches.
func runReader(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: reader CONFIG-JSON")
	}
	var cfg readerConfig
	if err := json.Unmarshal([]byte(args[0]), &cfg); err != nil {
		return fmt.Errorf("parse reader config: %w", err)
	}
	goSyscalls = cfg.GoSyscalls
	// A raw system call holds its scheduler slot while it blocks: every reader goroutine,
	// locked to its own thread, gets a slot of its own, and the runtime keeps two more.
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), slices.Max(cfg.Par)+2))
	runtime.LockOSThread() // turns reads from this goroutine
	type key struct {
		t, f string
		par  int
	}
	type job struct {
		f        string
		par, ops int
		tgts     []readerTarget
	}
	cells := map[key]*cell{}
	var jobs []job
	for pi, par := range cfg.Par {
		for _, f := range cfg.Files {
			j := job{f: f, par: par, ops: max(par, cfg.Ops[pi]/cfg.Rounds)}
			for _, t := range cfg.Targets {
				if _, err := os.Stat(filePath(t.Path, f)); err != nil {
					continue // this target does not serve this file
				}
				cells[key{t.Name, f, par}] = &cell{}
				j.tgts = append(j.tgts, t)
			}
			jobs = append(jobs, j)
		}
	}
	for range cfg.Rounds {
		rand.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
		for _, j := range jobs {
			rand.Shuffle(len(j.tgts), func(a, b int) { j.tgts[a], j.tgts[b] = j.tgts[b], j.tgts[a] })
			if j.par == 1 {
				cs := make([]*cell, len(j.tgts))
				for i, t := range j.tgts {
					cs[i] = cells[key{t.Name, j.f, 1}]
				}
				turns(cs, j.tgts, j.f, j.ops)
				continue
			}
			for _, t := range j.tgts {
				batch(cells[key{t.Name, j.f, j.par}], filePath(t.Path, j.f), j.par, j.ops, t.StatFD)
			}
		}
	}
	var out []readerResult
	for k, c := range cells {
		slices.Sort(c.lat)
		out = append(out, readerResult{
			Target: k.t, File: k.f, Par: k.par, Ops: len(c.lat),
			P50: pct(c.lat, 0.50), P99: pct(c.lat, 0.99),
			WallSec: c.wall.Seconds(), CPUTicks: c.ticks, Errors: c.errs, FirstErr: c.first,
		})
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// turns reads file from every target in turn, ops times each, with one reader.
func turns(cs []*cell, tgts []readerTarget, file string, ops int) {
	before := make([]uint64, len(tgts))
	for i, t := range tgts {
		before[i] = daemonTicks(t.StatFD)
	}
	buf := make([]byte, 256<<10)
	for range ops {
		for i, t := range tgts {
			start := time.Now()
			d, err := readOnce(filePath(t.Path, file), buf)
			cs[i].wall += time.Since(start)
			if err != nil {
				cs[i].errs++
				if cs[i].first == "" {
					cs[i].first = err.Error()
				}
				continue
			}
			cs[i].lat = append(cs[i].lat, d)
		}
	}
	for i, t := range tgts {
		cs[i].ticks += daemonTicks(t.StatFD) - before[i]
	}
}

// batch runs ops open-read-close cycles of path on par goroutines.
func batch(c *cell, path string, par, ops, statFD int) {
	before := daemonTicks(statFD)
	lats := make([][]time.Duration, par)
	errs := make([]error, par)
	var wg sync.WaitGroup
	start := time.Now()
	for g := range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			lats[g], errs[g] = readLoop(path, ops/par)
		}()
	}
	wg.Wait()
	c.wall += time.Since(start)
	c.ticks += daemonTicks(statFD) - before
	for g := range par {
		c.lat = append(c.lat, lats[g]...)
		if errs[g] != nil {
			c.errs++
			if c.first == "" {
				c.first = errs[g].Error()
			}
		}
	}
}

// readLoop reads path n times, timing each cycle.
func readLoop(path string, n int) ([]time.Duration, error) {
	buf := make([]byte, 256<<10)
	lat := make([]time.Duration, 0, n)
	for range n {
		d, err := readOnce(path, buf)
		if err != nil {
			return lat, err
		}
		lat = append(lat, d)
	}
	return lat, nil
}

// readOnce opens path, reads it to EOF and closes it, as cat and procps do, and returns the
// time that took. The system calls are raw, as a C program makes them (readerConfig.GoSyscalls).
func readOnce(path string, buf []byte) (time.Duration, error) {
	if goSyscalls {
		return readOnceGo(path, buf)
	}
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	r, _, e := unix.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(p)), uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	if e != 0 {
		return 0, fmt.Errorf("open %s: %w", path, e)
	}
	fd := r
	for {
		m, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
			return 0, fmt.Errorf("read %s: %w", path, e)
		}
		if m == 0 {
			break
		}
	}
	unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	return time.Since(t0), nil
}

// readOnceGo is readOnce through Go's system call wrappers, which tell the runtime that the
// goroutine may block: the runtime then hands its scheduler slot to another thread, whose
// spinning keeps the CPU awake while the reader waits for the daemon.
func readOnceGo(path string, buf []byte) (time.Duration, error) {
	t0 := time.Now()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	for {
		m, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return 0, fmt.Errorf("read %s: %w", path, err)
		}
		if m == 0 {
			break
		}
	}
	unix.Close(fd)
	return time.Since(t0), nil
}

// daemonTicks is utime+stime (fields 14, 15) of the /proc/<pid>/stat open at fd; 0 without one.
func daemonTicks(fd int) uint64 {
	if fd == 0 {
		return 0
	}
	var b [1024]byte
	n, err := unix.Pread(fd, b[:], 0)
	if err != nil || n <= 0 {
		return 0
	}
	s := string(b[:n])
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return u + st
}

// pct is the q-quantile in microseconds of sorted d.
func pct(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	i := min(len(d)-1, int(q*float64(len(d))))
	return float64(d[i]) / 1e3
}
