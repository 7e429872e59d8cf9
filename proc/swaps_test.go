package proc

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"procfsd/cgroupview"
)

const (
	newSwapsHeader = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
	oldSwapsHeader = "Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n"
	swapMeminfo    = "MemTotal:       16000000 kB\nSwapTotal:      67108860 kB\n"
	noneName       = "none                                    " // padded to 40 like swap_show
)

func TestRenderSwaps(t *testing.T) {
	swap := func(limit, usage uint64) cgroupview.Memory {
		return cgroupview.Memory{SwapLimit: limit, SwapUsage: usage, SwapAccounted: true}
	}
	tests := []struct {
		name       string
		swaps, mem string
		m          cgroupview.Memory
		want       string
		wantErr    bool
	}{
		{name: "double-tab host style", swaps: newSwapsHeader + "/dev/sda2  partition\t1\t1\t\t-2\n", mem: swapMeminfo,
			m: swap(2*gib, 512*mib), want: newSwapsHeader + noneName + "virtual\t\t2097152\t\t524288\t\t0\n"},
		{name: "large figures lose the extra tab", swaps: newSwapsHeader, mem: swapMeminfo,
			m: swap(cgroupview.Unlimited, 20*gib), want: newSwapsHeader + noneName + "virtual\t\t67108860\t20971520\t0\n"},
		{name: "single-tab host style", swaps: oldSwapsHeader, mem: swapMeminfo,
			m: swap(gib, 0), want: oldSwapsHeader + noneName + "virtual\t\t1048576\t0\t0\n"},
		{name: "used above total is shown full", swaps: newSwapsHeader, mem: swapMeminfo,
			m: swap(mib, 2*mib), want: newSwapsHeader + noneName + "virtual\t\t1024\t\t1024\t\t0\n"},
		{name: "not accounted: header only", swaps: newSwapsHeader, mem: swapMeminfo,
			m: cgroupview.Memory{SwapLimit: gib}, want: newSwapsHeader},
		{name: "host without swap: header only", swaps: newSwapsHeader, mem: "MemTotal: 1 kB\nSwapTotal: 0 kB\n",
			m: swap(gib, 0), want: newSwapsHeader},
		{name: "swap limit 0: header only", swaps: newSwapsHeader, mem: swapMeminfo, m: swap(0, 0), want: newSwapsHeader},
		{name: "no header", swaps: "", mem: swapMeminfo, m: swap(gib, 0), wantErr: true},
		{name: "header without newline", swaps: "Filename", mem: swapMeminfo, m: swap(gib, 0), wantErr: true},
		{name: "not a swaps file", swaps: "MemTotal: 1\n", mem: swapMeminfo, m: swap(gib, 0), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w bytes.Buffer
			err := RenderSwaps(&w, []byte(tt.swaps), []byte(tt.mem), tt.m)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, w.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestSwapsAgreesWithMeminfo: /proc/swaps and meminfo's SwapTotal/SwapFree are one figure.
func TestSwapsAgreesWithMeminfo(t *testing.T) {
	mi := hostFile(t, largeHost, "meminfo")
	m := cgroupview.Memory{Limit: gib, SwapLimit: 3 * gib, SwapUsage: gib, SwapAccounted: true}
	var sw, mw bytes.Buffer
	if err := RenderSwaps(&sw, hostFile(t, largeHost, "swaps"), mi, m); err != nil {
		t.Fatal(err)
	}
	if err := RenderMeminfo(&mw, mi, m); err != nil {
		t.Fatal(err)
	}
	total, _ := HostValue(mw.Bytes(), "SwapTotal")
	free, _ := HostValue(mw.Bytes(), "SwapFree")
	fields := bytes.Fields(bytes.SplitN(sw.Bytes(), []byte("\n"), 3)[1])
	got := []string{string(fields[2]), string(fields[3])}
	want := []string{itoa(total / 1024), itoa((total - free) / 1024)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("swaps size/used vs meminfo (-meminfo +swaps):\n%s", diff)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
