package proc

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRewriteKV(t *testing.T) {
	set := func(v uint64) kvRewrite {
		return func(key []byte, _ uint64) (uint64, bool) {
			return v, string(key) == "MemTotal" || string(key) == "nr_a"
		}
	}
	tests := []struct {
		name    string
		in      string
		width   int
		v       uint64
		want    string
		wantErr bool
	}{
		{name: "same width", in: "MemTotal:       24684096 kB\n", width: 8, v: 262144,
			want: "MemTotal:         262144 kB\n"},
		{name: "host wider than the field", in: "MemTotal:       1056618916 kB\n", width: 8, v: 524288,
			want: "MemTotal:         524288 kB\n"},
		{name: "new value wider than the field", in: "MemTotal:        8000000 kB\n", width: 8, v: 1056618916,
			want: "MemTotal:       1056618916 kB\n"},
		{name: "other lines kept byte for byte", in: "Foo:  1 kB\nMemTotal:        1 kB\nBar:\t\t7\n", width: 8, v: 5,
			want: "Foo:  1 kB\nMemTotal:        5 kB\nBar:\t\t7\n"},
		{name: "short label: the host's value column is kept", in: "MemTotal:       1 kB", width: 8, v: 2, want: "MemTotal:       2 kB"},
		{name: "empty line kept", in: "\nMemTotal: 1\n", width: 0, v: 2, want: "\nMemTotal: 2\n"},
		{name: "vmstat", in: "nr_a 123456\nnr_b 1\n", width: 0, v: 7, want: "nr_a 7\nnr_b 1\n"},
		{name: "hand-made line keeps a space", in: "MemTotal:1 kB\n", width: 0, v: 10, want: "MemTotal: 10 kB\n"},
		{name: "empty input", in: "", width: 8, want: ""},
		{name: "no value", in: "MemTotal:        kB\n", width: 8, wantErr: true},
		{name: "no key", in: ": 12\n", width: 8, wantErr: true},
		{name: "junk after value", in: "MemTotal: 12x kB\n", width: 8, wantErr: true},
		{name: "overflow", in: "MemTotal: 99999999999999999999 kB\n", width: 8, wantErr: true},
		{name: "key only", in: "MemTotal\n", width: 8, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := bytes.NewBufferString("prefix")
			err := rewriteKV(w, []byte(tt.in), "meminfo", tt.width, set(tt.v))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errMalformed) || w.String() != "prefix" {
					t.Errorf("err %v, buffer %q: want errMalformed and the buffer untouched", err, w)
				}
				return
			}
			if diff := cmp.Diff("prefix"+tt.want, w.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRewriteKVErrorNamesLine(t *testing.T) {
	err := rewriteKV(new(bytes.Buffer), []byte("A: 1\nB: 2\nxyz\n"), "meminfo", 8,
		func([]byte, uint64) (uint64, bool) { return 0, false })
	want := `parse meminfo line 3 "xyz": no key: malformed`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func TestHostValue(t *testing.T) {
	tests := []struct {
		name, in, key string
		want          uint64
		wantOK        bool
	}{
		{name: "kB", in: "MemTotal:       24684096 kB\n", key: "MemTotal", want: 24684096 * 1024, wantOK: true},
		{name: "no unit", in: "HugePages_Total:       3\n", key: "HugePages_Total", want: 3, wantOK: true},
		{name: "later line", in: "MemTotal: 1 kB\nSwapTotal:  2 kB", key: "SwapTotal", want: 2048, wantOK: true},
		{name: "prefix is not the key", in: "MemTotalX: 1 kB\n", key: "MemTotal"},
		{name: "absent", in: "MemFree: 1 kB\n", key: "MemTotal"},
		{name: "bad value", in: "MemTotal: x kB\n", key: "MemTotal"},
		{name: "kB overflow", in: "MemTotal: 18446744073709551615 kB\n", key: "MemTotal"},
		{name: "key at end of file", in: "MemTotal", key: "MemTotal"},
		{name: "space-separated", in: "ctxt 5\nprocs_running 3\nprocs_blocked 1\n", key: "procs_running", want: 3, wantOK: true},
		{name: "space-separated prefix is not the key", in: "procs_running_x 3\n", key: "procs_running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := HostValue([]byte(tt.in), tt.key)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("HostValue = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
