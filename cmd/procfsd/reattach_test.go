package main

import (
	"bytes"
	"strings"
	"testing"

	"procfsd/reattach"
)

// TestReattachUsage: docs/behaviour.md §1.1 exit statuses for `procfsd reattach`.
func TestReattachUsage(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"reattach", "-h"}, 0, ""},
		{[]string{"reattach", "-o", "xml"}, 2, "-o must be text or json"},
		{[]string{"reattach", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"reattach", "--mountpoint", t.TempDir()}, 1, "no fuse.procfsd mount at"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		if code := run(tt.args, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.wantErr) {
			t.Errorf("procfsd %s: exit %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), code, stderr.String(), tt.code, tt.wantErr)
		}
	}
}

func TestPrintReattach(t *testing.T) {
	var b bytes.Buffer
	printReattach(&b, &reattach.Report{
		Namespaces: 2, Live: 3,
		Fixed:      []reattach.Mount{{PID: 42, MountNS: "mnt:[4026532301]", Target: "/proc/meminfo", File: "/proc/meminfo", Way: reattach.WayBeneath}},
		Failed:     []reattach.Mount{{PID: 43, MountNS: "mnt:[4026532302]", Target: "/proc/stat", File: "/proc/stat", Error: "move mount onto /proc/stat: permission denied"}},
		Unanswered: []reattach.Mount{{PID: 44, MountNS: "mnt:[4026532303]", Target: "/proc/uptime", File: "/proc/uptime"}},
	})
	want := `reattached /proc/meminfo (/proc/meminfo) in mnt:[4026532301], pid 42 (beneath)
failed /proc/stat (/proc/stat) in mnt:[4026532302], pid 43: move mount onto /proc/stat: permission denied
no answer from /proc/uptime (/proc/uptime) in mnt:[4026532303], pid 44: alive but not served
2 mount namespaces with procfsd mounts: 3 live, 1 reattached, 1 failed, 1 not answering
`
	if b.String() != want {
		t.Errorf("printReattach:\n%s\nwant:\n%s", b.String(), want)
	}
}
