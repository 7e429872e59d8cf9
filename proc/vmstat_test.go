package proc

import (
	"bytes"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"procfsd/cgroupview"
)

const tinyVmstat = `nr_free_pages 1000000
nr_inactive_anon 500
nr_mapped 300
nr_anon_transparent_hugepages 9
nr_kernel_stack 2048
numa_hit 77
pgfault 999999
pgmajfault 88
pgpgin 1234
nr_dirtied 5
`

func TestRenderVmstat(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		m        cgroupview.Memory
		pageSize uint64
		want     string
		wantErr  bool
	}{
		{name: "v2 figures", in: tinyVmstat, m: v2Memory(256*mib, 200*mib), pageSize: 4096,
			want: "nr_free_pages 14336\nnr_inactive_anon 17920\nnr_mapped 5120\nnr_anon_transparent_hugepages 4\n" +
				"nr_kernel_stack 1024\nnuma_hit 77\npgfault 123456\npgmajfault 321\npgpgin 1234\nnr_dirtied 5\n"},
		{name: "v1 figures: pgpgin is an event memory.stat has", in: "pgpgin 1234\nnr_shmem 9\n",
			m: cgroupview.Memory{Limit: gib, Stat: v1Stat()}, pageSize: 4096, want: "pgpgin 50000\nnr_shmem 1024\n"},
		{name: "unlimited keeps host free pages", in: "nr_free_pages 1000000\n",
			m: v2Memory(cgroupview.Unlimited, 0), pageSize: 4096, want: "nr_free_pages 1000000\n"},
		{name: "usage over limit: no free pages", in: "nr_free_pages 1000000\n",
			m: v2Memory(mib, 2*mib), pageSize: 4096, want: "nr_free_pages 0\n"},
		{name: "missing gauge keeps host value capped at the limit", in: "nr_mapped 300\nnr_shmem 9000\n",
			m: cgroupview.Memory{Limit: 4 * mib, Stat: map[string]uint64{}}, pageSize: 4096,
			want: "nr_mapped 300\nnr_shmem 1024\n"},
		{name: "an nr_ key memory.stat happens to have is not copied", in: "nr_foo 3\n",
			m: cgroupview.Memory{Limit: gib, Stat: map[string]uint64{"nr_foo": 5}}, pageSize: 4096, want: "nr_foo 3\n"},
		{name: "64 KiB pages", in: "nr_mapped 1\nnr_anon_transparent_hugepages 1\n", m: v2Memory(gib, 0), pageSize: 65536,
			want: "nr_mapped 320\nnr_anon_transparent_hugepages 0\n"},
		{name: "bad page size", in: tinyVmstat, m: v2Memory(gib, 0), pageSize: 4095, wantErr: true},
		{name: "bad line", in: "nr_free_pages x\n", m: v2Memory(gib, 0), pageSize: 4096, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w bytes.Buffer
			err := RenderVmstat(&w, []byte(tt.in), tt.m, tt.pageSize)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, w.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestRenderVmstatLive renders this machine's /proc/vmstat: same line set and order.
func TestRenderVmstatLive(t *testing.T) {
	host, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	if err := RenderVmstat(&w, host, v2Memory(gib, 100*mib), uint64(os.Getpagesize())); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keys(host), keys(w.Bytes())); diff != "" {
		t.Errorf("line set (-host +got):\n%s", diff)
	}
}

func BenchmarkRenderVmstat(b *testing.B) {
	in := hostFile(b, largeHost, "vmstat")
	m := v2Memory(4*gib, 3*gib)
	var w bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		if err := RenderVmstat(&w, in, m, 4096); err != nil {
			b.Fatal(err)
		}
	}
}
