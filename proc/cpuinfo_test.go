package proc

import (
	"bytes"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const x86Block = "processor\t: %d\nphysical id\t: 0\nsiblings\t: 4\ncore id\t\t: %d\ncpu cores\t: 2\nflags\t\t: fpu\n\n"

const arm64Cpuinfo = `processor	: 0
BogoMIPS	: 50.00
Features	: fp asimd

processor	: 1
BogoMIPS	: 50.00
Features	: fp asimd

`

func x86Cpuinfo(n int) string {
	var b bytes.Buffer
	for i := range n {
		b.WriteString(replaceN(x86Block, i))
	}
	return b.String()
}

// replaceN fills the block's two %d with i without fmt's vet-visible format strings.
func replaceN(block string, i int) string {
	d := string(rune('0' + i))
	return string(bytes.ReplaceAll([]byte(block), []byte("%d"), []byte(d)))
}

func TestRenderCpuinfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		cpus    []int
		want    string
		wantErr bool
	}{
		{name: "subset renumbered, siblings and cores = N, other lines kept", in: x86Cpuinfo(4), cpus: []int{1, 3},
			want: "processor\t: 0\nphysical id\t: 0\nsiblings\t: 2\ncore id\t\t: 1\ncpu cores\t: 2\nflags\t\t: fpu\n\n" +
				"processor\t: 1\nphysical id\t: 0\nsiblings\t: 2\ncore id\t\t: 3\ncpu cores\t: 2\nflags\t\t: fpu\n\n"},
		{name: "given order, not host order", in: x86Cpuinfo(3), cpus: []int{2, 0},
			want: "processor\t: 0\nphysical id\t: 0\nsiblings\t: 2\ncore id\t\t: 2\ncpu cores\t: 2\nflags\t\t: fpu\n\n" +
				"processor\t: 1\nphysical id\t: 0\nsiblings\t: 2\ncore id\t\t: 0\ncpu cores\t: 2\nflags\t\t: fpu\n\n"},
		{name: "arm64 has no siblings lines", in: arm64Cpuinfo, cpus: []int{1},
			want: "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\n"},
		{name: "header and trailer kept", in: "hdr\n\n" + arm64Cpuinfo + "Hardware\t: X\n", cpus: []int{0},
			want: "hdr\n\nprocessor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\nHardware\t: X\n"},
		{name: "last block without blank line", in: "processor : 0\na : 1", cpus: []int{0},
			want: "processor : 0\na : 1"},
		{name: "cpu not on the host", in: x86Cpuinfo(2), cpus: []int{0, 5}, wantErr: true},
		{name: "no cpus", in: x86Cpuinfo(2), wantErr: true},
		{name: "s390x layout", in: "vendor_id       : IBM/S390\nprocessor 0: version = FF\n", cpus: []int{0}, wantErr: true},
		{name: "bad processor number", in: "processor\t: 99999999999\n", cpus: []int{0}, wantErr: true},
		{name: "empty", in: "", cpus: []int{0}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := bytes.NewBufferString("p")
			err := RenderCpuinfo(w, []byte(tt.in), tt.cpus)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if w.String() != "p" {
					t.Errorf("error left output %q", w)
				}
				return
			}
			if diff := cmp.Diff("p"+tt.want, w.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestRenderCpuinfoLive renders all of this machine's CPUs: only the processor, siblings and
// cpu cores values may differ from the host file.
func TestRenderCpuinfoLive(t *testing.T) {
	host, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	blocks, _, err := cpuBlocks(host)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, b := range blocks {
		ids = append(ids, b.id)
	}
	var w bytes.Buffer
	if err := RenderCpuinfo(&w, host, ids); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keys(host), keys(w.Bytes())); diff != "" {
		t.Errorf("lines (-host +got):\n%s", diff)
	}
	if got := bytes.Count(w.Bytes(), []byte("\nprocessor")) + 1; got != len(ids) {
		t.Errorf("%d processor blocks, want %d", got, len(ids))
	}
}

func FuzzRenderCpuinfo(f *testing.F) {
	f.Add([]byte(x86Cpuinfo(4)), []byte{3, 1})
	f.Add([]byte(arm64Cpuinfo), []byte{0})
	f.Add([]byte("processor:1\n\nprocessor:0"), []byte{0, 0})
	f.Fuzz(func(t *testing.T, in, ids []byte) {
		cpus := make([]int, len(ids))
		for i, id := range ids {
			cpus[i] = int(id)
		}
		w := bytes.NewBufferString("x")
		if err := RenderCpuinfo(w, in, cpus); err != nil {
			if w.String() != "x" {
				t.Fatalf("error %v left output", err)
			}
			return
		}
		// Every output line is a host line, at most renumbered.
		hostKeys := map[string]bool{}
		for _, k := range keys(in) {
			hostKeys[k] = true
		}
		for _, k := range keys(w.Bytes()[1:]) {
			if !hostKeys[k] {
				t.Fatalf("line %q is not from the host", k)
			}
		}
	})
}

func BenchmarkRenderCpuinfo(b *testing.B) {
	in := hostFile(b, largeHost, "cpuinfo")
	cpus := make([]int, 32)
	for i := range cpus {
		cpus[i] = 2 * i
	}
	var w bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		if err := RenderCpuinfo(&w, in, cpus); err != nil {
			b.Fatal(err)
		}
	}
}
