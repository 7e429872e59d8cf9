package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// options are the harness's flags.
type options struct {
	procfsd, lxcfs string
	out            string
	quick          bool
	scaleOnly      bool // the scale run only, no latency part
	scaleLxcfs     bool // LXCFS has a scale run too
	ops1, ops8     int
	rounds         int
	containers     int
	scaleFor       time.Duration
	interval       time.Duration
	files          string
	pin            string // CPU list every daemon and the reader run on ("" for all)
	goReader       bool   // the reader uses Go's system call wrappers (readerConfig.GoSyscalls)
	procfsdArgs    string // extra arguments to procfsd serve, split at spaces
	uringFloor     string // the FUSE-over-io_uring floor's binary (bench/uringfloor), "" for none
	scaleAgent     string // the scale run's container init (bench/scaleagent)
}

// pinned prefixes argv with taskset when -pin is set: the process and every thread it starts
// then run on those CPUs only. With one CPU for all, every FUSE wake-up stays on it.
func (o options) pinned(argv ...string) []string {
	if o.pin == "" {
		return argv
	}
	return append([]string{"taskset", "-c", o.pin}, argv...)
}

func runHarness(args []string) error {
	var o options
	fl := flag.NewFlagSet("run", flag.ContinueOnError)
	fl.StringVar(&o.procfsd, "procfsd", "bin/procfsd", "the procfsd binary")
	fl.StringVar(&o.lxcfs, "lxcfs", "/usr/bin/lxcfs", "the lxcfs binary")
	fl.StringVar(&o.out, "out", "BENCHMARKS.md", "where the Markdown report goes")
	fl.BoolVar(&o.quick, "quick", false, "latency part only, no scale run")
	fl.BoolVar(&o.scaleOnly, "scale-only", false, "scale run only, no latency part (for comparing two procfsd binaries)")
	fl.BoolVar(&o.scaleLxcfs, "scale-lxcfs", true, "give LXCFS a scale run too")
	fl.IntVar(&o.ops1, "ops1", 4000, "reads per target and file with 1 reader")
	fl.IntVar(&o.ops8, "ops8", 8000, "reads per target and file with 8 readers")
	fl.IntVar(&o.rounds, "rounds", 10, "interleaved rounds the reads are split into")
	fl.IntVar(&o.containers, "containers", 1000, "containers of the scale run")
	fl.DurationVar(&o.scaleFor, "scale-for", time.Minute, "how long the scale run reads, per daemon")
	fl.DurationVar(&o.interval, "loadavg-interval", 5*time.Second, "both daemons' loadavg sampling interval (LXCFS's is fixed at 5 s)")
	fl.StringVar(&o.pin, "pin", "", "run every daemon and the latency reader on these CPUs only (taskset -c), e.g. 0")
	fl.BoolVar(&o.goReader, "go-reader", false, "read through Go's system call wrappers, whose spinning threads keep the reader's CPU awake, instead of raw system calls as C programs make them")
	fl.StringVar(&o.procfsdArgs, "procfsd-args", "", "extra arguments to procfsd serve, e.g. '--busy-poll 0'")
	fl.StringVar(&o.scaleAgent, "scale-agent", "bin/scale-agent", "the scale run's container init (built from bench/scaleagent)")
	fl.StringVar(&o.uringFloor, "uring-floor", "", "also measure this FUSE-over-io_uring floor (bin/uring-floor, built from bench/uringfloor); needs fuse.enable_uring, which the run turns on and back")
	fl.StringVar(&o.files, "files", "", "comma-separated files to measure instead of "+strings.Join(benchFiles, ","))
	if err := fl.Parse(args); err != nil {
		return err
	}
	if o.files != "" {
		benchFiles = strings.Split(o.files, ",")
	}
	if os.Geteuid() != 0 {
		return errors.New("the harness needs root (cgroups, mounts, /dev/fuse)")
	}
	for _, b := range []*string{&o.procfsd, &o.lxcfs, &o.uringFloor, &o.scaleAgent} {
		if *b == "" {
			continue
		}
		p, err := filepath.Abs(*b)
		if err != nil {
			return err
		}
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("find binary: %w", err)
		}
		*b = p
	}
	unmountStale()
	if err := cleanStale(); err != nil {
		return fmt.Errorf("clean stale cgroups: %w", err)
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	top := "/" + namePrefix + hex.EncodeToString(rnd[:])
	dir, err := os.MkdirTemp("", namePrefix)
	if err != nil {
		return err
	}
	// Clean up on every way out, also ^C: cgroups (with what runs in them), mounts, daemons.
	var daemons []*daemon
	cleanup := func() {
		for _, d := range daemons {
			d.stop()
		}
		if err := removeTree(top); err != nil {
			fmt.Fprintln(os.Stderr, "bench: cleanup:", err)
		}
		unmountStale()
		os.RemoveAll(dir)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		cleanup()
		os.Exit(130)
	}()
	defer cleanup()

	rep := &report{date: time.Now().UTC(), machine: machine(), quick: o.quick, pin: o.pin, goReader: o.goReader, procfsdArgs: o.procfsdArgs}
	start := func(d *daemon, err error) (*daemon, error) {
		if err == nil {
			daemons = append(daemons, d)
		}
		return d, err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if !o.scaleOnly {
		if err := runLatency(o, top, self, dir, rep, start); err != nil {
			return err
		}
	}
	if !o.quick {
		// The scale run starts each daemon afresh, alone, so neither pays for the other.
		for _, d := range daemons {
			d.stop()
		}
		daemons = nil
		if err := scale(o, top, self, dir, rep, func(d *daemon, err error) (*daemon, error) { return start(d, err) }); err != nil {
			return err
		}
	}
	rep.print(os.Stdout)
	return rep.writeMarkdown(o.out)
}

func startProcfsd(o options, dir, name string) (*daemon, error) {
	mnt := filepath.Join(dir, name)
	argv := append([]string{o.procfsd, "serve", "--mountpoint", mnt, "--state-dir", filepath.Join(dir, name+"-state"),
		"--loadavg-interval", o.interval.String(), "--log-level", "warn"}, strings.Fields(o.procfsdArgs)...)
	return startDaemon(dir, name, mnt, filepath.Join(mnt, "proc/%s"), filepath.Join(mnt, "proc/meminfo"), o.pinned(argv...)...)
}

// startLxcfs runs LXCFS as it is deployed to compare with procfsd: loadavg on (-l) and the CFS
// CPU view.
func startLxcfs(o options, dir, name string) (*daemon, error) {
	mnt := filepath.Join(dir, name)
	return startDaemon(dir, name, mnt, filepath.Join(mnt, "proc/%s"), filepath.Join(mnt, "proc/meminfo"),
		o.pinned(o.lxcfs, "-f", "-l", "--enable-cfs", "-p", filepath.Join(dir, name+".pid"), mnt)...)
}

// machine describes the host for the report.
func machine() string {
	var u syscall.Utsname
	syscall.Uname(&u)
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range splitLines(string(b)) {
			if v, ok := cutKey(line, "model name"); ok {
				model = v
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range splitLines(string(b)) {
			if v, ok := cutKey(line, "MemTotal"); ok {
				mem = v
				break
			}
		}
	}
	ncpu := 0
	if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		ncpu = countCPUs(string(b))
	}
	_, v2, _ := hierarchies()
	mode := "cgroup v1"
	if v2 {
		mode = "cgroup v2"
	}
	return fmt.Sprintf("%s, %d CPUs, %s RAM, Linux %s, %s", model, ncpu, mem, cstr(u.Release[:]), mode)
}

// runLatency starts procfsd, LXCFS, the FUSE floor and, with -uring-floor, the io_uring floor,
// and measures them one reader and eight readers at a time (latency.go).
func runLatency(o options, top, self, dir string, rep *report, start func(*daemon, error) (*daemon, error)) error {
	pd, err := start(startProcfsd(o, dir, "procfsd"))
	if err != nil {
		return err
	}
	lx, err := start(startLxcfs(o, dir, "lxcfs"))
	if err != nil {
		return err
	}
	fmnt := filepath.Join(dir, "floor")
	fd, err := start(startDaemon(dir, "floor", fmnt, filepath.Join(fmnt, "file"), filepath.Join(fmnt, "file"),
		o.pinned(self, "floor", fmnt, "/proc/meminfo")...))
	if err != nil {
		return err
	}
	var uf *daemon
	if o.uringFloor != "" {
		restore, err := enableFuseUring()
		if err != nil {
			return err
		}
		defer restore()
		umnt := filepath.Join(dir, "uring-floor")
		if uf, err = start(startDaemon(dir, "uring-floor", umnt, filepath.Join(umnt, "file"), filepath.Join(umnt, "file"),
			o.pinned(o.uringFloor, umnt, "/proc/meminfo")...)); err != nil {
			return err
		}
	}
	return latency(o, top, self, rep, pd, lx, fd, uf)
}

// enableFuseUring turns on the fuse module's enable_uring for the uring floor and returns what
// sets it back as it was.
func enableFuseUring() (restore func(), err error) {
	const param = "/sys/module/fuse/parameters/enable_uring"
	old, err := os.ReadFile(param)
	if err != nil {
		return nil, fmt.Errorf("this kernel has no FUSE over io_uring (Linux 6.14+, CONFIG_FUSE_IO_URING): %w", err)
	}
	if err := os.WriteFile(param, []byte("Y"), 0); err != nil {
		return nil, fmt.Errorf("enable FUSE over io_uring: %w", err)
	}
	return func() { os.WriteFile(param, bytes.TrimSpace(old), 0) }, nil
}
