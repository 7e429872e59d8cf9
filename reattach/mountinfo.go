package reattach

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"procfsd/statedir"
	"strconv"
	"strings"
)

// maxMountinfo bounds the mount table read of another mount namespace. A container makes its
// own mounts (up to fs.mount-max, 100,000 by default, each with paths of up to PATH_MAX), so
// read whole its table could reach hundreds of MiB in the daemon. A busy Kubernetes pod has a
// few hundred mounts (under 100 KiB); a nested engine with 1,000 containers a few MiB.
const maxMountinfo = 64 << 20

// readMountinfo reads a /proc/<pid>/mountinfo, at most maxMountinfo bytes.
func readMountinfo(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := statedir.ReadLimited(f, maxMountinfo, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// mount is one line of /proc/<pid>/mountinfo (Documentation/filesystems/proc.rst, 3.5).
type mount struct {
	dev     string   // major:minor of the superblock: one per FUSE connection
	root    string   // the path inside the file system that is mounted, e.g. /proc/meminfo
	target  string   // the mount point, relative to the reading process's root
	options []string // per-mount options: ro, nosuid, nodev, noexec, ...
	fstype  string
}

// parseMountinfo parses mountinfo lines:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
func parseMountinfo(b []byte) ([]mount, error) {
	var out []mount
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 1 {
			return nil, fmt.Errorf("parse mountinfo line %d %q: too few fields", n, sc.Text())
		}
		out = append(out, mount{
			dev:     f[2],
			root:    unescape(f[3]),
			target:  unescape(f[4]),
			options: strings.Split(f[5], ","),
			fstype:  g[0],
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse mountinfo: %w", err)
	}
	return out, nil
}

// unescape undoes the kernel's octal escapes of space, tab, newline and backslash
// (fs/proc_namespace.c, mangle()).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// topmost keeps, for each mount point, only the last mount of fstype: mountinfo lists mounts in
// the order they were made, and a later mount on the same path hides the earlier ones.
func topmost(ms []mount, fstype string) []mount {
	last := map[string]int{}
	for i, m := range ms {
		last[m.target] = i
	}
	var out []mount
	for i, m := range ms {
		if last[m.target] == i && m.fstype == fstype {
			out = append(out, m)
		}
	}
	return out
}
