package cgroupview

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCpuset(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []int
		wantErr  string
	}{
		{name: "empty", in: "", want: []int{}},
		{name: "newline only", in: "\n", want: []int{}},
		{name: "single", in: "0\n", want: []int{0}},
		{name: "list and ranges", in: "0-3,5,7-8\n", want: []int{0, 1, 2, 3, 5, 7, 8}},
		{name: "lxcfs test-cpusetrange 1,4-5", in: "1,4-5", want: []int{1, 4, 5}},
		{name: "unsorted overlapping input", in: "7,2-4,3", want: []int{2, 3, 4, 7}},
		{name: "highest cpu", in: "8191", want: []int{8191}},
		{name: "huge range end", in: "0-4294967295", wantErr: "bad cpu number"},
		{name: "beyond bound", in: "0-99999", wantErr: "beyond"},
		{name: "cpu 8192", in: "8192", wantErr: "beyond"},
		{name: "reversed range", in: "5-3", wantErr: "before start"},
		{name: "garbage", in: "a-b", wantErr: "bad number"},
		{name: "dangling comma", in: "1,", want: []int{1}},
		{name: "empty item", in: "1,,2", wantErr: "bad cpu number"},
		{name: "stride syntax is not printed by cgroupfs", in: "0-7:2/4", wantErr: "bad"},
		{name: "negative", in: "-1", wantErr: "bad cpu number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCpuset([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseCpuset(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseCpuset(%q): %v", tc.in, err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("parseCpuset(%q) (-want +got):\n%s", tc.in, d)
			}
		})
	}
}

func FuzzParseCpuset(f *testing.F) {
	for _, s := range []string{"", "0", "0-3,5,7-8\n", "8191", "0-8191", "0-4294967295", "3-1", ",", "1,,2", "00-01"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cpus, err := parseCpuset(b)
		if (err != nil) != (cpus == nil) {
			t.Fatalf("parseCpuset(%q) = %v, %v: error must hold exactly when the set is nil", b, cpus, err)
		}
		for i, c := range cpus {
			if c < 0 || c >= maxCPUs {
				t.Fatalf("parseCpuset(%q): cpu %d outside [0, %d)", b, c, maxCPUs)
			}
			if i > 0 && cpus[i-1] >= c {
				t.Fatalf("parseCpuset(%q) = %v: not sorted and unique", b, cpus)
			}
		}
	})
}

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{in: "max\n", want: Unlimited},
		{in: "-1\n", want: Unlimited},
		{in: "9223372036854771712\n", want: Unlimited}, // v1 PAGE_COUNTER_MAX, 4 KiB pages
		{in: "9223372036854710272\n", want: Unlimited}, // 64 KiB pages
		{in: "268435456\n", want: 268435456},
		{in: "0\n", want: 0},
		{in: "", wantErr: true},
		{in: "12k", wantErr: true},
		{in: "-2", wantErr: true},
		{in: "18446744073709551616", wantErr: true},
	} {
		got, err := parseLimit([]byte(tc.in))
		if (err != nil) != tc.wantErr || err == nil && got != tc.want {
			t.Errorf("parseLimit(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name, in  string
		state     byte
		start     uint64
		wantError string
	}{
		{name: "plain", in: "42 (sleep) S 1 42 42 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 12345 2400000 200 18446744073709551615\n", state: 'S', start: 12345},
		{name: "comm with spaces and parens", in: "7 (a) b) (c d) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 1 1", state: 'R', start: 99},
		{name: "no paren", in: "7 a R 1", wantError: "no ')'"},
		{name: "short", in: "7 (a) R 1 2 3", wantError: "only 6 fields"},
		{name: "bad start", in: "7 (a) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 x9 1", wantError: "field 22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, start, err := parseStat([]byte(tc.in))
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("parseStat = %c, %d, %v; want error containing %q", state, start, err, tc.wantError)
				}
				return
			}
			if err != nil || state != tc.state || start != tc.start {
				t.Errorf("parseStat = %c, %d, %v; want %c, %d", state, start, err, tc.state, tc.start)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	got, err := parseStatus([]byte("Name:\tsh\nTgid:\t4000\nPid:\t4001\nNSpid:\t4001\t17\t2\nNSsid:\t1\n"))
	if err != nil || got.tgid != 4000 || !slices.Equal(got.nspid, []int{4001, 17, 2}) {
		t.Errorf("parseStatus = %+v, %v; want tgid 4000, nspid [4001 17 2]", got, err)
	}
	// "NSpid" must not match "NSpidx" or similar prefixes, and both lines are required.
	if _, err := parseStatus([]byte("Tgid:\t1\nNSpidx:\t1\n")); err == nil {
		t.Error("parseStatus without an NSpid line gave no error")
	}
	if _, err := parseStatus([]byte("Tgid:\t1\nNSpid:\t1\tx\n")); err == nil {
		t.Error("parseStatus with a bad NSpid gave no error")
	}
}

func TestParseCgroupFile(t *testing.T) {
	v1, unified, err := parseCgroupFile([]byte("7:cpu,cpuacct:/a\n4:memory:/b\n1:name=systemd:/c\n0::/d\n"))
	want := map[string]string{"cpu": "/a", "cpuacct": "/a", "memory": "/b", "name=systemd": "/c"}
	if err != nil || unified != "/d" || !cmp.Equal(want, v1) {
		t.Errorf("parseCgroupFile = %v, %q, %v; want %v, /d", v1, unified, err, want)
	}
	// A path may itself contain ':'.
	if _, u, err := parseCgroupFile([]byte("0::/a:b\n")); err != nil || u != "/a:b" {
		t.Errorf("path with ':' = %q, %v", u, err)
	}
	if _, _, err := parseCgroupFile([]byte("garbage\n")); err == nil {
		t.Error("parseCgroupFile(garbage) gave no error")
	}
}

// TestParseMemoryStatV1Limits: the hierarchical limits as the kernel prints them, PAGE_COUNTER_MAX
// in bytes for none.
func TestParseMemoryStatV1Limits(t *testing.T) {
	got, err := parseMemoryStatV1([]byte("cache 1\nhierarchical_memory_limit 536870912\n" +
		"hierarchical_memsw_limit 9223372036854771712\ntotal_cache 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got.limit != 536870912 || !got.limitKnown || got.memswLimit != Unlimited || !got.memswKnown {
		t.Errorf("limits %+v, want 536870912 and an unlimited memsw", got)
	}
}

// TestParseMemoryStatV1ExactKeys: LXCFS matched memory.stat by prefix, so "total_rss" also took
// "total_rss_huge" and similar. Every key must match whole.
func TestParseMemoryStatV1ExactKeys(t *testing.T) {
	in := "total_rss_huge 3\ntotal_rss 1\ntotal_cache 2\ntotal_cached 99\ntotal_mapped_file 4\ntotal_mapped_filex 98\n" +
		"rss 97\nhierarchical_memory_limit 96\ntotal_active_file 5\n"
	got, err := parseMemoryStatV1([]byte(in))
	want := map[string]uint64{"anon_thp": 3, "anon": 1, "file": 2, "cached": 99, "file_mapped": 4, "mapped_filex": 98, "active_file": 5}
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got.stat); d != "" {
		t.Errorf("parseMemoryStatV1 (-want +got):\n%s", d)
	}
	if got.limit != 96 || !got.limitKnown || got.memswKnown {
		t.Errorf("limits %+v, want hierarchical_memory_limit 96 and no memsw limit", got)
	}
	if _, err := parseMemoryStatV1([]byte("total_rss x\n")); err == nil {
		t.Error("bad value gave no error")
	}
}

func TestParseUsageAll(t *testing.T) {
	u, s, err := parseUsageAll([]byte("cpu user system\n0 10 1\n1 20 2\n"))
	if err != nil || u != 30 || s != 3 {
		t.Errorf("parseUsageAll = %d, %d, %v; want 30, 3", u, s, err)
	}
	for _, bad := range []string{"", "cpu user\n0 1\n", "cpu user system\n0 1\n", "cpu user system\n0 x 1\n"} {
		if _, _, err := parseUsageAll([]byte(bad)); err == nil {
			t.Errorf("parseUsageAll(%q) gave no error", bad)
		}
	}
}

func TestParseIOStatErrors(t *testing.T) {
	for _, bad := range []string{"8 rbytes=1\n", "8:0 rbytes\n", "8:0 rbytes=x\n", "99999999999:0 rbytes=1\n"} {
		if err := parseIOStat([]byte(bad), devMap{}); err == nil {
			t.Errorf("parseIOStat(%q) gave no error", bad)
		}
	}
	if err := parseBlkio([]byte("8:0 Read x\n"), devMap{}, true); err == nil {
		t.Error("parseBlkio with a bad value gave no error")
	}
}

// TestProcessCgroups reads a hybrid /proc/<pid>/cgroup: each controller of a combined
// hierarchy gets the path, a named hierarchy keeps its name, and the v2 path sits under "".
func TestProcessCgroups(t *testing.T) {
	got, err := ProcessCgroups("../testdata/proc-pids/hybrid", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pids": "/", "blkio": "/", "cpu": "/", "cpuacct": "/", "cpuset": "/",
		"memory": "/", "name=systemd": "/init.scope", "": "/init.scope"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ProcessCgroups (-want +got):\n%s", diff)
	}
	if _, err := ProcessCgroups("../testdata/proc-pids/hybrid", 999999); err == nil {
		t.Error("a missing process gave no error")
	}
}
