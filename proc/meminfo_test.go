package proc

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"procfsd/cgroupview"
)

const tinyMeminfo = `MemTotal:        1048576 kB
MemFree:          524288 kB
MemAvailable:     600000 kB
Buffers:            1000 kB
Cached:           100000 kB
SwapCached:          100 kB
Active(file):      10000 kB
SwapTotal:       2097152 kB
SwapFree:        2097152 kB
Mapped:            20000 kB
Slab:              90000 kB
HugePages_Total:       0
`

func TestRenderMeminfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		m       cgroupview.Memory
		want    map[string]uint64 // kB, as printed
		wantErr bool
	}{
		{name: "limit below host", in: tinyMeminfo, m: v2Memory(256*mib, 100*mib),
			want: map[string]uint64{"MemTotal": 262144, "MemFree": 159744, "Buffers": 0, "SwapCached": 0,
				"MemAvailable": 159744 + 30720 + 51200 + 6144, "Cached": 81920, "Mapped": 20480,
				"Active(file)": 30720, "Slab": 9216, "HugePages_Total": 0}},
		{name: "unlimited shows host RAM", in: tinyMeminfo, m: v2Memory(cgroupview.Unlimited, 100*mib),
			want: map[string]uint64{"MemTotal": 1048576, "MemFree": 1048576 - 102400}},
		{name: "limit above host is capped", in: tinyMeminfo, m: v2Memory(100*gib, 100*mib),
			want: map[string]uint64{"MemTotal": 1048576}},
		{name: "usage over limit", in: tinyMeminfo, m: v2Memory(64*mib, 100*mib),
			want: map[string]uint64{"MemTotal": 65536, "MemFree": 0, "MemAvailable": 65536}},
		{name: "swap accounted, limited", in: tinyMeminfo,
			m:    cgroupview.Memory{Limit: gib, SwapLimit: 512 * mib, SwapUsage: 100 * mib, SwapAccounted: true},
			want: map[string]uint64{"SwapTotal": 524288, "SwapFree": 524288 - 102400}},
		{name: "swap limit above host swap", in: tinyMeminfo,
			m:    cgroupview.Memory{Limit: gib, SwapLimit: 100 * gib, SwapUsage: 3 * gib, SwapAccounted: true},
			want: map[string]uint64{"SwapTotal": 2097152, "SwapFree": 0}},
		{name: "swap not accounted", in: tinyMeminfo,
			m:    cgroupview.Memory{Limit: gib, SwapLimit: 100 * gib, SwapAccounted: false},
			want: map[string]uint64{"SwapTotal": 0, "SwapFree": 0}},
		{name: "keys memory.stat lacks are 0, never the host's", in: tinyMeminfo,
			m:    cgroupview.Memory{Limit: 64 * mib, Usage: 10 * mib, Stat: map[string]uint64{}},
			want: map[string]uint64{"Mapped": 0, "Slab": 0, "SReclaimable": 0, "Cached": 0, "Active(file)": 0}},
		{name: "v1 slab from its parts", in: tinyMeminfo,
			m:    cgroupview.Memory{Limit: gib, Stat: map[string]uint64{"slab_reclaimable": mib, "slab_unreclaimable": 2 * mib}},
			want: map[string]uint64{"Slab": 3072}},
		{name: "no MemTotal", in: "MemFree: 1 kB\n", m: v2Memory(gib, 0), wantErr: true},
		{name: "bad line", in: tinyMeminfo + "Broken: x kB\n", m: v2Memory(gib, 0), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w bytes.Buffer
			err := RenderMeminfo(&w, []byte(tt.in), tt.m)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			got := map[string]uint64{}
			for k := range tt.want {
				v, _ := HostValue(w.Bytes(), k)
				if k != "HugePages_Total" {
					v /= 1024
				}
				got[k] = v
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(keys([]byte(tt.in)), keys(w.Bytes())); diff != "" {
				t.Errorf("line set (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMeminfoInvariants checks MemFree ≤ MemTotal and MemAvailable ≤ MemTotal over a grid of
// limits and usages on both fixtures.
func TestMeminfoInvariants(t *testing.T) {
	for _, host := range []string{smallHost, largeHost} {
		in := hostFile(t, host, "meminfo")
		for _, limit := range []uint64{0, mib, 256 * mib, 8 * gib, 1 << 50, cgroupview.Unlimited} {
			for _, usage := range []uint64{0, 100 * mib, 4 * gib, 1 << 60} {
				var w bytes.Buffer
				if err := RenderMeminfo(&w, in, v2Memory(limit, usage)); err != nil {
					t.Fatal(err)
				}
				checkMemInvariants(t, w.Bytes())
			}
		}
	}
}

func checkMemInvariants(t *testing.T, out []byte) {
	t.Helper()
	total, _ := HostValue(out, "MemTotal")
	for _, k := range []string{"MemFree", "MemAvailable"} {
		if v, ok := HostValue(out, k); ok && v > total {
			t.Errorf("%s %d > MemTotal %d", k, v, total)
		}
	}
}

// TestRenderMeminfoLive renders this machine's /proc/meminfo as an unlimited container using
// what the host uses: every line and its order survive, and the lines the view does not own
// are byte-identical.
func TestRenderMeminfoLive(t *testing.T) {
	host, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	total, ok1 := HostValue(host, "MemTotal")
	free, ok2 := HostValue(host, "MemFree")
	if !ok1 || !ok2 {
		t.Fatalf("host meminfo lacks MemTotal/MemFree:\n%s", host)
	}
	var w bytes.Buffer
	m := cgroupview.Memory{Limit: cgroupview.Unlimited, Usage: total - free, Stat: map[string]uint64{}}
	if err := RenderMeminfo(&w, host, m); err != nil {
		t.Fatal(err)
	}
	hostLines, gotLines := bytes.SplitAfter(host, []byte("\n")), bytes.SplitAfter(w.Bytes(), []byte("\n"))
	if len(hostLines) != len(gotLines) {
		t.Fatalf("%d lines, host has %d", len(gotLines), len(hostLines))
	}
	for i, hl := range hostLines {
		k := keys(hl)
		if _, owned := meminfoFields[strings.Join(k, "")]; len(k) == 1 && owned {
			if diff := cmp.Diff(k, keys(gotLines[i])); diff != "" {
				t.Errorf("line %d (-want +got):\n%s", i+1, diff)
			}
			continue
		}
		if diff := cmp.Diff(string(hl), string(gotLines[i])); diff != "" {
			t.Errorf("line %d (-want +got):\n%s", i+1, diff)
		}
	}
	checkMemInvariants(t, w.Bytes())
}

func FuzzRenderMeminfo(f *testing.F) {
	f.Add([]byte(tinyMeminfo), uint64(256*mib), uint64(100*mib))
	f.Add(hostFile(f, smallHost, "meminfo"), uint64(cgroupview.Unlimited), uint64(0))
	f.Add([]byte("MemTotal: 5\nMemFree:\n"), uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, in []byte, limit, usage uint64) {
		w := bytes.NewBufferString("x")
		err := RenderMeminfo(w, in, v2Memory(limit, usage))
		if err != nil {
			if w.String() != "x" {
				t.Fatalf("error %v left output %q", err, w)
			}
			return
		}
		out := w.Bytes()[1:]
		if diff := cmp.Diff(keys(in), keys(out)); diff != "" {
			t.Fatalf("line set (-want +got):\n%s", diff)
		}
		checkMemInvariants(t, out)
	})
}

func BenchmarkRenderMeminfo(b *testing.B) {
	in := hostFile(b, largeHost, "meminfo")
	m := v2Memory(4*gib, 3*gib)
	var w bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		if err := RenderMeminfo(&w, in, m); err != nil {
			b.Fatal(err)
		}
	}
}
