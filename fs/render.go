package fs

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"procfsd/cgroupview"
	"procfsd/history"
	"procfsd/proc"
)

// renderFunc writes one virtual file for one container. It gathers the inputs (the I/O) and
// hands them to the pure renderer in package proc.
type renderFunc func(r *renderCtx, w *bytes.Buffer) error

// renderCtx is one render: the server, the container and its state.
type renderCtx struct {
	srv *Server
	c   *cgroupview.Container
	st  *history.State
}

// userHZ is USER_HZ, the unit of /proc/stat (include/asm-generic/param.h).
const userHZ = 100

// host returns the host's /proc/<name>, at most hostTTL old (cache.go). The bytes are shared:
// renderers only read them.
func (r *renderCtx) host(name string) ([]byte, error) {
	return r.srv.cache.hostFile(r.srv.cfg.ProcRoot+"/"+name, r.srv.mayBlock, readHostFile)
}

func renderMeminfo(r *renderCtx, w *bytes.Buffer) error {
	host, err := r.host("meminfo")
	if err != nil {
		return err
	}
	m, err := r.memory()
	if err != nil {
		return err
	}
	return proc.RenderMeminfo(w, host, m)
}

func renderSwaps(r *renderCtx, w *bytes.Buffer) error {
	swaps, err := r.host("swaps")
	if err != nil {
		return err
	}
	meminfo, err := r.host("meminfo")
	if err != nil {
		return err
	}
	m, err := r.memory()
	if err != nil {
		return err
	}
	return proc.RenderSwaps(w, swaps, meminfo, m)
}

func renderVmstat(r *renderCtx, w *bytes.Buffer) error {
	host, err := r.host("vmstat")
	if err != nil {
		return err
	}
	m, err := r.memory()
	if err != nil {
		return err
	}
	// vmstat has no MemTotal of its own: cap the limit at the host's RAM here, as meminfo
	// does, so nr_free_pages never exceeds what the machine has (docs/behaviour.md §2.2).
	meminfo, err := r.host("meminfo")
	if err != nil {
		return err
	}
	if total, ok := proc.HostValue(meminfo, "MemTotal"); ok {
		m.Limit = min(m.Limit, total)
	}
	return proc.RenderVmstat(w, host, m, r.srv.pageSize)
}

// visibleCPUs is the host CPU numbers the container sees, in order (docs/behaviour.md §2.3).
func (r *renderCtx) visibleCPUs() (cgroupview.CPU, []int, error) {
	cpu, err := r.cpu()
	if err != nil {
		return cpu, nil, err
	}
	if len(cpu.Cpuset) == 0 {
		return cpu, nil, errors.New("empty cpuset")
	}
	n := min(cpu.Visible(r.srv.cfg.QuotaView), len(cpu.Cpuset))
	return cpu, cpu.Cpuset[:n], nil
}

func renderCpuinfo(r *renderCtx, w *bytes.Buffer) error {
	host, err := r.host("cpuinfo")
	if err != nil {
		return err
	}
	_, cpus, err := r.visibleCPUs()
	if err != nil {
		return err
	}
	return proc.RenderCpuinfo(w, host, cpus)
}

func renderOnline(r *renderCtx, w *bytes.Buffer) error {
	_, cpus, err := r.visibleCPUs()
	if err != nil {
		return err
	}
	proc.RenderOnline(w, len(cpus))
	return nil
}

func renderStat(r *renderCtx, w *bytes.Buffer) error {
	host, err := r.host("stat")
	if err != nil {
		return err
	}
	cpu, cpus, err := r.visibleCPUs()
	if err != nil {
		return err
	}
	tasks, err := r.statTasks(host)
	if err != nil {
		return err
	}
	up, err := r.uptime()
	if err != nil {
		return err
	}
	times := r.st.AdvanceClock(proc.CPUSample{
		Uptime:      up,
		CPUs:        len(cpus),
		UserTicks:   cpu.UserNS / (1e9 / userHZ),
		SystemTicks: cpu.SystemNS / (1e9 / userHZ),
	})
	return proc.RenderStat(w, host, times, tasks)
}

func renderUptime(r *renderCtx, w *bytes.Buffer) error {
	cpu, cpus, err := r.visibleCPUs()
	if err != nil {
		return err
	}
	up, err := r.uptime()
	if err != nil {
		return err
	}
	upt, idle := proc.ContainerUptime(up, len(cpus), float64(cpu.UserNS+cpu.SystemNS)/1e9)
	proc.RenderUptime(w, upt, idle)
	return nil
}

// uptime is the seconds since the container's init started (docs/behaviour.md §2.4). A reader in
// the host PID namespace has no container init: its container is as old as the host.
func (r *renderCtx) uptime() (float64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, fmt.Errorf("read boot time clock: %w", err)
	}
	now := float64(ts.Sec) + float64(ts.Nsec)/1e9
	if r.c.InitPID == 0 {
		return now, nil
	}
	return max(0, now-float64(r.c.InitStart)/userHZ), nil
}

// statTasks returns the thread counts /proc/stat shows: the container's, or the host's own
// procs_running and procs_blocked when the container's threads are all the host's.
func (r *renderCtx) statTasks(host []byte) (cgroupview.Tasks, error) {
	if !r.srv.cgroups.AtHostRoot(r.c) {
		return r.tasks()
	}
	running, ok1 := proc.HostValue(host, "procs_running")
	blocked, ok2 := proc.HostValue(host, "procs_blocked")
	if !ok1 || !ok2 {
		return cgroupview.Tasks{}, fmt.Errorf("host stat: no procs_running or procs_blocked")
	}
	return cgroupview.Tasks{Running: int(running), Blocked: int(blocked)}, nil
}

// renderLoadavg serves the container's load averages, or the host's file when the container's
// threads are all the host's: the kernel averages exactly those, and counting them would read every
// thread on the host each interval (docs/behaviour.md §2.4: cost grows with the containers read,
// not with the host).
func renderLoadavg(r *renderCtx, w *bytes.Buffer) error {
	if r.srv.cgroups.AtHostRoot(r.c) {
		host, err := r.host("loadavg")
		if err != nil {
			return err
		}
		w.Write(host)
		return nil
	}
	interval := r.srv.cfg.LoadavgInterval
	// The running count (4th field) is the sampler's last one while it is at most two intervals
	// old, as LXCFS serves its own: counting every thread's state at each read would be most
	// of a cold read's cost (docs/read-path.md, "The load sampler"). The total and the
	// newest PID are read now: the newest PID must be at least the reader's own. A container
	// the sampler counts only every k intervals (package history) takes its count up to
	// k+1 intervals old: counting here would spend what the sampler saves.
	maxAge := time.Duration(r.st.SampledEvery()+1) * interval
	if l, running, ok := r.st.SampledLoadavg(time.Now(), maxAge); ok {
		tasks, err := r.threads()
		if err != nil {
			return err
		}
		tasks.Running = min(running, tasks.Total)
		proc.RenderLoadavg(w, l, tasks)
		return nil
	}
	tasks, err := r.tasks()
	if err != nil {
		return err
	}
	proc.RenderLoadavg(w, r.st.Loadavg(tasks, interval), tasks)
	return nil
}

func renderDiskstats(r *renderCtx, w *bytes.Buffer) error {
	host, err := r.host("diskstats")
	if err != nil {
		return err
	}
	r.srv.mayBlock()
	io, err := r.srv.cgroups.IO(r.c)
	if errors.Is(err, cgroupview.ErrNoData) {
		w.Write(host) // the cgroup exposes nothing: the host file (docs/behaviour.md §2.5)
		return nil
	}
	if err != nil {
		return err
	}
	return proc.RenderDiskstats(w, host, io)
}

// renderPressure serves the container cgroup's <resource>.pressure, or the host's file where
// the cgroup has none (docs/behaviour.md §2.5).
func renderPressure(resource string) renderFunc {
	return func(r *renderCtx, w *bytes.Buffer) error {
		r.srv.mayBlock()
		data, err := r.srv.cgroups.Pressure(r.c, resource)
		if errors.Is(err, cgroupview.ErrNoData) {
			data, err = r.host(filepath.Join("pressure", resource))
		}
		if err != nil {
			return err
		}
		w.Write(data)
		return nil
	}
}
