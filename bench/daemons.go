package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"procfsd/fuseconn"

	"golang.org/x/sys/unix"
)

// daemon is a FUSE server the harness started: procfsd, LXCFS or the floor.
type daemon struct {
	name  string
	mnt   string // its mountpoint
	path  string // file path template for readers, with %s for the file name
	cmd   *exec.Cmd
	stat  *os.File // /proc/<pid>/stat, kept open so readers in other PID namespaces can use it
	log   *os.File
	ready string // a file that exists once the mount answers
}

// startDaemon starts argv with its stderr in dir/<name>.log and waits until d.ready opens.
func startDaemon(dir, name, mnt, path, ready string, argv ...string) (*daemon, error) {
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", mnt, err)
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if env := os.Getenv("BENCH_ENV_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); env != "" {
		// e.g. BENCH_ENV_PROCFSD_SCALE="GOMEMLIMIT=32MiB GODEBUG=gctrace=1" for one daemon.
		cmd.Env = append(os.Environ(), strings.Fields(env)...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, mnt: mnt, path: path, cmd: cmd, log: logf, ready: ready}
	if d.stat, err = os.Open(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid)); err != nil {
		d.stop()
		return nil, fmt.Errorf("open %s stat: %w", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if isMounted(mnt) {
			if f, err := os.Open(ready); err == nil {
				f.Close()
				return d, nil
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logf.Name())
			d.stop()
			return nil, fmt.Errorf("%s exited before it was ready: %s", name, strings.TrimSpace(string(b)))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("%s not ready after 20s", name)
		}
	}
}

// stop SIGTERMs the daemon (SIGKILL after 5 s) and detaches its mount.
func (d *daemon) stop() {
	if d.cmd.ProcessState == nil {
		syscall.Kill(d.cmd.Process.Pid, syscall.SIGTERM)
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(d.cmd.Process.Pid, 0) == nil && time.Now().Before(deadline) && !isZombie(d.cmd.Process.Pid) {
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	}
	if isMounted(d.mnt) {
		unix.Unmount(d.mnt, unix.MNT_DETACH)
	}
	if d.stat != nil {
		d.stat.Close()
	}
	d.log.Close()
	if dir := os.Getenv("BENCH_KEEP_LOGS"); dir != "" {
		// The daemons' logs live in the run's temporary directory, which cleanup removes.
		if b, err := os.ReadFile(d.log.Name()); err == nil {
			os.WriteFile(filepath.Join(dir, d.name+".log"), b, 0o644)
		}
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || len(s) < i+3 || s[i+2] == 'Z'
}

// ticks is the daemon's utime+stime so far, USER_HZ.
func (d *daemon) ticks() uint64 { return daemonTicks(int(d.stat.Fd())) }

// rssKiB is VmRSS of the daemon.
func (d *daemon) rssKiB() uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// isMounted reports whether dir is a mountpoint in this mount namespace.
func isMounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// unmountStale detaches mounts an interrupted run left under a procfsd-bench-* directory.
func unmountStale() {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.Contains(f[4], "/"+namePrefix) {
			unix.Unmount(f[4], unix.MNT_DETACH)
		}
	}
}

// runFloor is the floor daemon: `floor MOUNTPOINT CONTENT-FILE` serves the content of
// CONTENT-FILE (read once) through ServeFloor until SIGTERM.
func runFloor(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: floor MOUNTPOINT CONTENT-FILE")
	}
	content, err := os.ReadFile(args[1])
	if err != nil {
		return fmt.Errorf("read floor content: %w", err)
	}
	conn, err := fuseconn.Mount(args[0])
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = ServeFloor(ctx, conn, content)
	conn.Unmount()
	return err
}

// runJoin is `join CGROUP PROGRAM ARGS...`: it moves itself into CGROUP in every hierarchy and
// executes PROGRAM, so that PROGRAM and everything it starts live in the container.
func runJoin(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: join CGROUP PROGRAM [ARGS...]")
	}
	if err := joinCgroup(args[0], os.Getpid()); err != nil {
		return err
	}
	prog, err := exec.LookPath(args[1])
	if err != nil {
		return fmt.Errorf("find %s: %w", args[1], err)
	}
	return syscall.Exec(prog, args[1:], os.Environ())
}
