package reattach

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestParseMountinfo(t *testing.T) {
	tests := []struct {
		name, in string
		want     []mount
		wantErr  string
	}{
		{
			name: "bind of one file, read-only",
			in:   "812 790 0:53 /proc/meminfo /proc/meminfo ro,nosuid,nodev,relatime master:1 - fuse.procfsd procfsd rw,user_id=0,group_id=0,allow_other\n",
			want: []mount{{dev: "0:53", root: "/proc/meminfo", target: "/proc/meminfo", options: []string{"ro", "nosuid", "nodev", "relatime"}, fstype: "fuse.procfsd"}},
		},
		{
			name: "escaped space and backslash, no optional fields",
			in:   `36 35 98:0 / /var/lib/my\040mount\134x rw - ext4 /dev/root rw` + "\n",
			want: []mount{{dev: "98:0", root: "/", target: `/var/lib/my mount\x`, options: []string{"rw"}, fstype: "ext4"}},
		},
		{name: "empty", in: ""},
		{name: "no separator", in: "36 35 98:0 / / rw ext4 /dev/root rw\n", wantErr: `parse mountinfo line 1 "36 35 98:0 / / rw ext4 /dev/root rw": too few fields`},
		{name: "short", in: "36 35 98:0 / - ext4\n", wantErr: "too few fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMountinfo([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(mount{})); diff != "" {
				t.Errorf("parseMountinfo (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`: "/a b", `/tab\011`: "/tab\t", `/nl\012x`: "/nl\nx", `\134`: `\`,
		`/plain`: "/plain", `/short\04`: `/short\04`, `/bad\9zz`: `/bad\9zz`,
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTopmost: a later mount on the same path hides an earlier one, whatever their types.
func TestTopmost(t *testing.T) {
	ms := []mount{
		{target: "/proc/meminfo", dev: "0:50", fstype: FSType}, // dead, covered below
		{target: "/proc/stat", dev: "0:50", fstype: FSType},
		{target: "/proc/meminfo", dev: "0:60", fstype: FSType},
		{target: "/proc/stat", dev: "0:5", fstype: "tmpfs"}, // hides the procfsd mount
		{target: "/", dev: "8:1", fstype: "ext4"},
	}
	got := topmost(ms, FSType)
	want := []mount{{target: "/proc/meminfo", dev: "0:60", fstype: FSType}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(mount{})); diff != "" {
		t.Errorf("topmost (-want +got):\n%s", diff)
	}
}

func TestMountAttrs(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"rw,relatime", 0},
		{"ro,nosuid,nodev,relatime", unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV},
		{"rw,noexec", unix.MOUNT_ATTR_NOEXEC},
	}
	for _, tt := range tests {
		if got := mountAttrs(strings.Split(tt.in, ",")); got != tt.want {
			t.Errorf("mountAttrs(%s) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}
