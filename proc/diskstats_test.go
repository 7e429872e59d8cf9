package proc

import (
	"bytes"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"procfsd/cgroupview"
)

func TestRenderDiskstats(t *testing.T) {
	io := cgroupview.IO{Devices: []cgroupview.DeviceIO{{Major: 8, Minor: 0, ReadBytes: 1024, WriteBytes: 4096,
		ReadOps: 3, WriteOps: 4, DiscardBytes: 512, DiscardOps: 1}}}
	tests := []struct {
		name    string
		in      string
		io      cgroupview.IO
		want    string
		wantErr bool
	}{
		{name: "14 fields (before 4.18): no discard columns", io: io,
			in:   "   8       0 sda 9 9 9 9 9 9 9 9 9 9 9\n",
			want: "   8       0 sda 3 0 2 0 4 0 8 0 0 0 0\n"},
		{name: "18 fields: discards", io: io,
			in:   "   8       0 sda 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9\n",
			want: "   8       0 sda 3 0 2 0 4 0 8 0 0 0 0 1 0 1 0\n"},
		{name: "20 fields: flushes zero", io: io,
			in:   "   8       0 sda 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9\n",
			want: "   8       0 sda 3 0 2 0 4 0 8 0 0 0 0 1 0 1 0 0 0\n"},
		{name: "a counter newer than this code is 0", io: io,
			in:   "   8       0 sda 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9\n",
			want: "   8       0 sda 3 0 2 0 4 0 8 0 0 0 0 1 0 1 0 0 0 0\n"},
		{name: "untouched device and partition read zeros", io: io,
			in:   "   8       1 sda1 5 5 5 5 5 5 5 5 5 5 5\n 259       0 1 5 5 5 5 5 5 5 5 5 5 5",
			want: "   8       1 sda1 0 0 0 0 0 0 0 0 0 0 0\n 259       0 1 0 0 0 0 0 0 0 0 0 0 0"},
		{name: "no IO at all", in: "   7       0 loop0 1 1 1 1 1 1 1 1 1 1 1\n",
			want: "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0\n"},
		{name: "blank line kept", in: "\n", want: "\n"},
		{name: "too few counters", in: "   8       0 sda 1 2 3\n", wantErr: true},
		{name: "bad major", in: "   x       0 sda 9 9 9 9 9 9 9 9 9 9 9\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := bytes.NewBufferString("p")
			err := RenderDiskstats(w, []byte(tt.in), tt.io)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				tt.want = ""
			}
			if diff := cmp.Diff("p"+tt.want, w.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestRenderDiskstatsLive renders this machine's /proc/diskstats: devices, order and field
// counts survive, and with no IO every counter is 0.
func TestRenderDiskstatsLive(t *testing.T) {
	host, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	if err := RenderDiskstats(&w, host, cgroupview.IO{}); err != nil {
		t.Fatal(err)
	}
	hl, gl := bytes.Split(host, []byte("\n")), bytes.Split(w.Bytes(), []byte("\n"))
	if len(hl) != len(gl) {
		t.Fatalf("%d lines, host %d", len(gl), len(hl))
	}
	for i := range hl {
		hf, gf := bytes.Fields(hl[i]), bytes.Fields(gl[i])
		if len(hf) != len(gf) || (len(hf) > 3 && !bytes.HasPrefix(gl[i], hl[i][:bytes.Index(hl[i], hf[2])+len(hf[2])])) {
			t.Errorf("line %d: %q from host %q", i+1, gl[i], hl[i])
		}
		for _, f := range gf[min(3, len(gf)):] {
			if string(f) != "0" {
				t.Errorf("line %d: counter %q, want 0", i+1, f)
			}
		}
	}
}

func BenchmarkRenderDiskstats(b *testing.B) {
	in := hostFile(b, largeHost, "diskstats")
	io := cgroupview.IO{Devices: []cgroupview.DeviceIO{{Major: 259, Minor: 0, ReadBytes: 1 << 30, ReadOps: 100}}}
	var w bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		if err := RenderDiskstats(&w, in, io); err != nil {
			b.Fatal(err)
		}
	}
}
