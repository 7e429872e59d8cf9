// Command genhost writes the large-64cpu-swap fixture host by scaling the captured
// debian12-2cpu one: 2 sockets × 16 cores × 2 threads, 504 GiB of RAM, a 64 GiB swap partition
// and NVMe disks with the 17-counter diskstats layout. Every line keeps the kernel's format, so
// the renderers meet the shapes of a large machine. Run from the repository root:
//
//	go run ./proc/internal/genhost
//
// The output is deterministic; testdata/README.md records the command.
package main

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	src     = "testdata/hosts/debian12-2cpu/proc"
	dst     = "testdata/hosts/large-64cpu-swap/proc"
	sockets = 2
	cores   = 16 // per socket
	threads = 2  // per core
	ncpu    = sockets * cores * threads
	scale   = 21 // RAM: 24 GiB × 21 ≈ 504 GiB
	swapKB  = 67108860
	swapUse = 1048576
)

func main() {
	files := map[string]string{
		"cpuinfo":         cpuinfo(read("cpuinfo")),
		"stat":            stat(read("stat")),
		"meminfo":         meminfo(read("meminfo")),
		"vmstat":          vmstat(read("vmstat")),
		"swaps":           swaps(read("swaps")),
		"diskstats":       diskstats(),
		"loadavg":         "12.31 10.52 9.87 7/2113 481516\n",
		"uptime":          "1234567.89 70123456.78\n",
		"pressure/cpu":    "some avg10=3.12 avg60=2.87 avg300=2.01 total=9107869701\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
		"pressure/io":     "some avg10=0.40 avg60=0.35 avg300=0.30 total=180806412\nfull avg10=0.20 avg60=0.18 avg300=0.13 total=156658832\n",
		"pressure/memory": "some avg10=0.00 avg60=0.01 avg300=0.02 total=4096105\nfull avg10=0.00 avg60=0.00 avg300=0.01 total=2048003\n",
	}
	for name, body := range files {
		p := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func read(name string) string {
	b, err := os.ReadFile(filepath.Join(src, name))
	if err != nil {
		log.Fatal(err)
	}
	return string(b)
}

// cpuinfo repeats the captured first block with the topology fields of a 2-socket SMT machine,
// numbered as Linux enumerates them: the first thread of every core, socket by socket, then the
// second threads.
func cpuinfo(host string) string {
	first := host[:strings.Index(host, "\n\n")+2]
	var b strings.Builder
	for i := range ncpu {
		socket, core, thread := i/cores%sockets, i%cores, i/(sockets*cores)
		apic := socket*64 + core*2 + thread
		set := map[string]int{
			"processor": i, "physical id": socket, "siblings": cores * threads,
			"core id": core, "cpu cores": cores, "apicid": apic, "initial apicid": apic,
		}
		for _, line := range strings.SplitAfter(first, "\n") {
			label, _, ok := strings.Cut(line, ":")
			if v, hit := set[strings.TrimRight(label, "\t ")]; ok && hit {
				line = label + ": " + strconv.Itoa(v) + "\n"
			}
			b.WriteString(line)
		}
	}
	return b.String()
}

// stat writes 64 CPU lines with deterministic, varied counters and their sum, then the
// captured non-CPU lines with busier figures.
func stat(host string) string {
	var lines [][10]uint64
	var sum [10]uint64
	for i := range ncpu {
		u := uint64(123456789 + i*7919)
		l := [10]uint64{u, uint64(i * 13), u / 3, 98765432 + uint64(i*104729), uint64(i * 331), 0, uint64(i * 97), uint64(i * 5), 0, 0}
		lines = append(lines, l)
		for k := range l {
			sum[k] += l[k]
		}
	}
	var b strings.Builder
	writeStatLine(&b, "cpu ", sum)
	for i, l := range lines {
		writeStatLine(&b, "cpu"+strconv.Itoa(i), l)
	}
	for _, line := range strings.SplitAfter(host, "\n") {
		key, _, _ := strings.Cut(line, " ")
		switch key {
		case "cpu", "":
		case "ctxt":
			b.WriteString("ctxt 98123456789\n")
		case "processes":
			b.WriteString("processes 48151623\n")
		case "procs_running":
			b.WriteString("procs_running 7\n")
		case "procs_blocked":
			b.WriteString("procs_blocked 2\n")
		default:
			if !strings.HasPrefix(key, "cpu") {
				b.WriteString(line)
			}
		}
	}
	return b.String()
}

func writeStatLine(b *strings.Builder, label string, v [10]uint64) {
	b.WriteString(label)
	for _, x := range v {
		fmt.Fprintf(b, " %d", x)
	}
	b.WriteByte('\n')
}

// meminfo scales the captured RAM figures and turns swap on, in show_val_kb's "%-16s%8lu kB".
func meminfo(host string) string {
	fixed := map[string]uint64{
		"SwapTotal": swapKB, "SwapFree": swapKB - swapUse, "SwapCached": 20480,
		"VmallocTotal": 34359738367, "Hugepagesize": 2048, "HugePages_Total": 0,
		"HugePages_Free": 0, "HugePages_Rsvd": 0, "HugePages_Surp": 0,
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(host, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		key := strings.TrimSuffix(f[0], ":")
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			log.Fatalf("meminfo %q: %v", line, err)
		}
		if x, ok := fixed[key]; ok {
			v = x
		} else {
			v *= scale
		}
		fmt.Fprintf(&b, "%-16s%8d", key+":", v)
		if len(f) == 3 {
			b.WriteString(" " + f[2])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func vmstat(host string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(host, "\n") {
		key, val, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			log.Fatalf("vmstat %q: %v", line, err)
		}
		fmt.Fprintf(&b, "%s %d\n", key, v*scale)
	}
	return b.String()
}

// swaps keeps the captured header and adds one partition in mm/swapfile.c swap_show's format.
func swaps(host string) string {
	header := host[:strings.IndexByte(host, '\n')+1]
	name := "/dev/nvme0n1p3"
	tab := func(v int) string {
		if v < 10000000 {
			return "\t"
		}
		return ""
	}
	return header + fmt.Sprintf("%s%*s%s\t%d\t%s%d\t%s%d\n", name, 40-len(name), " ",
		"partition", swapKB, tab(swapKB), swapUse, tab(swapUse), -2)
}

// diskstats prints block/genhd.c diskstats_show lines, "%4d %7d %s" and 17 counters.
func diskstats() string {
	devs := []struct {
		major, minor int
		name         string
	}{
		{7, 0, "loop0"}, {7, 1, "loop1"}, {259, 0, "nvme0n1"}, {259, 1, "nvme0n1p1"},
		{259, 2, "nvme0n1p2"}, {259, 3, "nvme0n1p3"}, {259, 4, "nvme1n1"}, {253, 0, "dm-0"},
	}
	var b bytes.Buffer
	for i, d := range devs {
		fmt.Fprintf(&b, "%4d %7d %s", d.major, d.minor, d.name)
		for k := range 17 {
			fmt.Fprintf(&b, " %d", (i*1000003+k*7907)%9999991*(i%3))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
