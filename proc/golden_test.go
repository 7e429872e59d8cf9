package proc

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"procfsd/cgroupview"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the renderers' output")

// goldenCase is one container on one fixture host; each listed file is rendered and compared
// with testdata/golden/<name>/<file>.
type goldenCase struct {
	name, why string // why: what the case proves, one line
	host      string
	files     []string
	mem       cgroupview.Memory
	cpus      []int       // host CPU ids shown (cpuinfo), len = N (stat, online)
	samples   []CPUSample // advanced in order; the last result is rendered
	tasks     cgroupview.Tasks
	io        cgroupview.IO
	load      []int      // first starts the Loadavg, the rest are samples
	uptime    [3]float64 // init age, CPUs, CPU seconds
}

var goldenCases = []goldenCase{
	{name: "limit-below-host", host: smallHost, files: []string{"meminfo", "swaps", "vmstat"},
		why: "256 MiB v2 limit: MemTotal = limit, MemFree = limit − usage; Mapped/Dirty/Writeback from file_* keys (0 in LXCFS)",
		mem: v2Memory(256*mib, 200*mib)},
	{name: "unlimited", host: smallHost, files: []string{"meminfo", "vmstat"},
		why: "no limit anywhere: MemTotal is the host's, nr_free_pages the host's, container stat figures still used",
		mem: v2Memory(cgroupview.Unlimited, 200*mib)},
	{name: "limit-above-host", host: smallHost, files: []string{"meminfo"},
		why: "a 1 TiB limit on a 24 GiB host is capped at host MemTotal",
		mem: v2Memory(1<<40, 200*mib)},
	{name: "usage-over-limit", host: smallHost, files: []string{"meminfo"},
		why: "usage above the limit gives MemFree 0 (LXCFS underflows, lxc/lxcfs#389) and MemAvailable ≤ MemTotal",
		mem: v2Memory(128*mib, 200*mib)},
	{name: "swap-v2", host: largeHost, files: []string{"meminfo", "swaps", "vmstat"},
		why: "v2 memory.swap.max 2 GiB, 512 MiB used: SwapTotal/SwapFree and one virtual swaps line in the host's double-tab style",
		mem: cgroupview.Memory{Limit: 4 * gib, Usage: 3 * gib, SwapLimit: 2 * gib, SwapUsage: 512 * mib,
			SwapAccounted: true, Stat: v2Stat()}},
	{name: "swap-v1", host: largeHost, files: []string{"meminfo", "swaps", "vmstat"},
		why: "v1 figures: swap = memsw − mem; AnonHugePages from total_rss_huge (0 in LXCFS); v1 has no slab keys, so Slab lines are 0",
		mem: cgroupview.Memory{Limit: 512 * mib, Usage: 300 * mib, SwapLimit: 88 * mib, SwapUsage: 64 * mib,
			SwapAccounted: true, Stat: v1Stat()}},
	{name: "swap-unlimited", host: largeHost, files: []string{"meminfo", "swaps"},
		why: "swap accounted but unlimited: SwapTotal is the host's",
		mem: cgroupview.Memory{Limit: 8 * gib, Usage: 1 * gib, SwapLimit: cgroupview.Unlimited,
			SwapUsage: 100 * mib, SwapAccounted: true, Stat: v2Stat()}},
	{name: "swap-off", host: largeHost, files: []string{"meminfo", "swaps"},
		why: "swap not accounted on a host with swap: SwapTotal 0 and /proc/swaps is the header only",
		mem: cgroupview.Memory{Limit: 1 * gib, Usage: 300 * mib, Stat: v2Stat()}},
	{name: "cpuset-subset", host: largeHost, files: []string{"cpuinfo", "stat", "online"},
		why:     "cpuset 3,5,40,41 renumbered 0-3 in cpuinfo, stat and online; siblings = cpu cores = 4",
		cpus:    []int{3, 5, 40, 41},
		samples: []CPUSample{{Uptime: 1000, CPUs: 4, UserTicks: 150000, SystemTicks: 50003}},
		tasks:   cgroupview.Tasks{Running: 3, Blocked: 1, Total: 40, LastPID: 77}},
	{name: "quota-cut", host: largeHost, files: []string{"cpuinfo", "stat", "online"},
		why:  "quota 2.5 on a 64-CPU cpuset shows the first 3 CPUs; user+system advance = container CPU time",
		cpus: []int{0, 1, 2},
		samples: []CPUSample{{Uptime: 600, CPUs: 3, UserTicks: 90000, SystemTicks: 30000},
			{Uptime: 610, CPUs: 3, UserTicks: 91800, SystemTicks: 30601}},
		tasks: cgroupview.Tasks{Running: 2, Total: 12, LastPID: 300}},
	{name: "single-cpu", host: smallHost, files: []string{"cpuinfo", "stat", "online"},
		why:     "cpuset 1 shows one CPU numbered 0 everywhere; online is \"0\"",
		cpus:    []int{1},
		samples: []CPUSample{{Uptime: 30.5, CPUs: 1, UserTicks: 1200, SystemTicks: 300}},
		tasks:   cgroupview.Tasks{Running: 1, Total: 3, LastPID: 9}},
	{name: "load-and-uptime", host: smallHost, files: []string{"loadavg", "uptime"},
		why:    "loadavg starts at the current count and decays with the kernel's constants; idle = uptime×N − CPU time",
		load:   []int{4, 4, 2, 0, 0},
		tasks:  cgroupview.Tasks{Running: 1, Blocked: 1, Total: 25, LastPID: 1234},
		uptime: [3]float64{3600.5, 2, 1800.25}},
	{name: "diskstats-io", host: largeHost, files: []string{"diskstats"},
		why: "io.stat figures on 17-counter lines: ops, bytes/512, discards; untouched devices and partitions all zero",
		io: cgroupview.IO{Devices: []cgroupview.DeviceIO{
			{Major: 259, Minor: 0, ReadBytes: 1 << 30, WriteBytes: 512 * mib, ReadOps: 20000, WriteOps: 7000,
				DiscardBytes: 64 * mib, DiscardOps: 12},
			{Major: 253, Minor: 0, ReadBytes: 4096, ReadOps: 1}}}},
	{name: "diskstats-small", host: smallHost, files: []string{"diskstats"},
		why: "the captured host's vda gets the container's counters, the loop devices zeros",
		io:  cgroupview.IO{Devices: []cgroupview.DeviceIO{{Major: 254, Minor: 0, ReadBytes: 1 << 20, ReadOps: 40}}}},
}

// goldenRenderers renders one file of a case from its host fixture.
var goldenRenderers = map[string]func(tb testing.TB, c goldenCase, w *bytes.Buffer) error{
	"meminfo": func(tb testing.TB, c goldenCase, w *bytes.Buffer) error {
		return RenderMeminfo(w, hostFile(tb, c.host, "meminfo"), c.mem)
	},
	"swaps": func(tb testing.TB, c goldenCase, w *bytes.Buffer) error {
		return RenderSwaps(w, hostFile(tb, c.host, "swaps"), hostFile(tb, c.host, "meminfo"), c.mem)
	},
	"vmstat": func(tb testing.TB, c goldenCase, w *bytes.Buffer) error {
		return RenderVmstat(w, hostFile(tb, c.host, "vmstat"), c.mem, 4096)
	},
	"cpuinfo": func(tb testing.TB, c goldenCase, w *bytes.Buffer) error {
		return RenderCpuinfo(w, hostFile(tb, c.host, "cpuinfo"), c.cpus)
	},
	"stat": func(tb testing.TB, c goldenCase, w *bytes.Buffer) error {
		var clk CPUClock
		var lines []CPUTimes
		for _, s := range c.samples {
			lines = clk.Advance(s)
		}
		return RenderStat(w, hostFile(tb, c.host, "stat"), lines, c.tasks)
	},
	"online": func(_ testing.TB, c goldenCase, w *bytes.Buffer) error {
		RenderOnline(w, len(c.cpus))
		return nil
	},
	"loadavg": func(_ testing.TB, c goldenCase, w *bytes.Buffer) error {
		l := NewLoadavg(c.load[0], 5*time.Second)
		for _, a := range c.load[1:] {
			l.Sample(a)
		}
		RenderLoadavg(w, l, c.tasks)
		return nil
	},
	"uptime": func(_ testing.TB, c goldenCase, w *bytes.Buffer) error {
		up, idle := ContainerUptime(c.uptime[0], int(c.uptime[1]), c.uptime[2])
		RenderUptime(w, up, idle)
		return nil
	},
	"diskstats": func(tb testing.TB, c goldenCase, w *bytes.Buffer) error {
		return RenderDiskstats(w, hostFile(tb, c.host, "diskstats"), c.io)
	},
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		for _, file := range c.files {
			t.Run(c.name+"/"+file, func(t *testing.T) {
				var w bytes.Buffer
				if err := goldenRenderers[file](t, c, &w); err != nil {
					t.Fatalf("%s: %v", c.why, err)
				}
				checkGolden(t, filepath.Join(c.name, file), w.Bytes())
			})
		}
	}
	t.Run("README", func(t *testing.T) {
		var idx bytes.Buffer
		idx.WriteString("# Golden outputs\n\nWritten by `go test ./proc -update` from the cases in " +
			"`proc/golden_test.go`; review a diff here like code. One directory per case:\n\n")
		for _, c := range goldenCases {
			fmt.Fprintf(&idx, "- `%s` (%s; %s): %s\n", c.name, c.host, strings.Join(c.files, ", "), c.why)
		}
		checkGolden(t, "README.md", idx.Bytes())
	})
}

func checkGolden(t *testing.T, rel string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "testdata", "golden", rel)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./proc -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", rel, diff)
	}
}
