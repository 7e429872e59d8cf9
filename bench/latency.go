package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
)

// benchFiles are the files measured, where both daemons serve them (LXCFS 5.0 has no vmstat).
var benchFiles = []string{"meminfo", "stat", "cpuinfo", "uptime", "loadavg", "vmstat"}

// latency measures every file of every target from one reader process inside a container
// cgroup and a new PID namespace: first with one reader, then with eight, interleaved in
// rounds (see runReader). The daemons' stat files go to the reader as descriptors 3, 4, 5 (and
// 6 for the uring floor, uf, when there is one).
func latency(o options, top, self string, rep *report, pd, lx, fd, uf *daemon) error {
	cg := path.Join(top, "lat")
	// A container as runtimes make them: a memory limit and a cpuset; no quota, so that CFS
	// throttling of the reader cannot show up as daemon latency.
	if err := makeCgroup(cg, cgLimits{memory: 1 << 30, cpus: "0-1"}); err != nil {
		return err
	}
	cfg := readerConfig{
		Targets: []readerTarget{
			{Name: "native", Path: "/proc/%s"},
			{Name: "floor", Path: fd.path, StatFD: 5},
			{Name: "procfsd", Path: pd.path, StatFD: 3},
			{Name: "lxcfs", Path: lx.path, StatFD: 4},
		},
		Files:      benchFiles,
		Par:        []int{1, 8},
		Ops:        []int{o.ops1, o.ops8},
		Rounds:     o.rounds,
		GoSyscalls: o.goReader,
	}
	daemons := []*daemon{pd, lx, fd}
	files := []*os.File{pd.stat, lx.stat, fd.stat}
	if uf != nil { // descriptor 6
		cfg.Targets = append(cfg.Targets, readerTarget{Name: "uring-floor", Path: uf.path, StatFD: 6})
		daemons, files = append(daemons, uf), append(files, uf.stat)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	argv := o.pinned(self, "join", cg, "unshare", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc",
		self, "reader", string(js))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = files
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if p := os.Getenv("BENCH_PERF"); p != "" {
		// Profile procfsd over the run: BENCH_PERF=out.data (perf record, call graphs).
		perf := exec.Command("perf", "record", "-g", "-o", p, "-p", fmt.Sprint(pd.cmd.Process.Pid))
		if err := perf.Start(); err == nil {
			defer func() { perf.Process.Signal(os.Interrupt); perf.Wait() }()
		}
	}
	fmt.Fprintf(os.Stderr, "bench: latency: %d+%d reads per target and file, %d rounds\n", o.ops1, o.ops8, o.rounds)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run reader: %w", err)
	}
	if err := json.Unmarshal(out.Bytes(), &rep.cells); err != nil {
		return fmt.Errorf("parse reader output %q: %w", out.String(), err)
	}
	for _, d := range daemons {
		rep.rss = append(rep.rss, rssLine{d.name, d.rssKiB()})
	}
	return nil
}
