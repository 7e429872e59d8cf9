package cgroupview

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ProcessStart returns field 22 of <procRoot>/<pid>/stat, the process's start time in clock
// ticks after boot (proc(5)). A process that no longer exists is ErrProcessGone.
func ProcessStart(procRoot string, pid int) (uint64, error) {
	_, start, err := readStat(procRoot, pid)
	return start, err
}

// readStat reads the state (field 3) and start time (field 22) of <procRoot>/<pid>/stat
// without allocating on success.
func readStat(procRoot string, pid int) (byte, uint64, error) {
	var pb [128]byte
	return readStatPath(append(itoa(append(append(pb[:0], procRoot...), '/'), pid), "/stat\x00"...))
}

// readStatPath is readStat of the NUL-terminated path p: a process's or a thread's stat.
func readStatPath(p []byte) (byte, uint64, error) {
	var sb [1024]byte // a stat line is about 300 bytes; fields 3..22 come early
	b, err := readOneShow(p, sb[:0])
	if err != nil {
		return 0, 0, procErr(string(p[:len(p)-1]), err)
	}
	state, start, err := parseStat(b)
	if err != nil {
		return 0, 0, fmt.Errorf("parse %s: %w", string(p[:len(p)-1]), err)
	}
	return state, start, nil
}

// procErr wraps a failed read of a /proc/<pid> file: a vanished process (ENOENT, or ESRCH
// from a task that died between open and read) is ErrProcessGone.
func procErr(path string, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("read %s: %w: %w", path, ErrProcessGone, err)
	}
	return fmt.Errorf("read %s: %w", path, err)
}

// parseStat returns fields 3 (state) and 22 (starttime) of a /proc/<pid>/stat line. Field 2,
// the command, is in parentheses and may itself hold spaces and ')', so fields are counted
// from the last ')' (as procps does).
func parseStat(b []byte) (byte, uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("no ')' after comm")
	}
	rest := b[i+1:]
	var state byte
	for field := 3; ; field++ {
		var f []byte
		f, rest = cutField(rest)
		if len(f) == 0 {
			return 0, 0, fmt.Errorf("only %d fields", field-1)
		}
		switch field {
		case 3:
			state = f[0]
		case 22:
			start, err := parseUint(bytes.TrimSpace(f))
			if err != nil {
				return 0, 0, fmt.Errorf("field 22: %w", err)
			}
			return state, start, nil
		}
	}
}

// status is what Resolve needs from /proc/<pid>/status.
type status struct {
	tgid  int
	nspid []int // PIDs from the outermost namespace (that of procRoot) to the innermost
}

func readStatus(procRoot string, pid int, buf []byte) (status, []byte, error) {
	path := procRoot + "/" + strconv.Itoa(pid) + "/status"
	b, err := readPath(append([]byte(path), 0), buf)
	if err != nil {
		return status{}, b, procErr(path, err)
	}
	st, err := parseStatus(b)
	if err != nil {
		return status{}, b, fmt.Errorf("parse %s: %w", path, err)
	}
	return st, b, nil
}

// parseStatus reads the Tgid and NSpid lines (proc(5); NSpid exists since Linux 4.1).
func parseStatus(b []byte) (status, error) {
	var st status
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		key, val := cutField(line)
		switch string(key) {
		case "Tgid:":
			n, err := parseInt(bytes.TrimSpace(val))
			if err != nil {
				return st, fmt.Errorf("parse Tgid: %w", err)
			}
			st.tgid = n
		case "NSpid:":
			for len(val) > 0 {
				var f []byte
				f, val = cutField(val)
				n, err := parseInt(f)
				if err != nil {
					return st, fmt.Errorf("NSpid: %w", err)
				}
				st.nspid = append(st.nspid, n)
			}
		}
	}
	if st.tgid == 0 || len(st.nspid) == 0 {
		return st, errors.New("no Tgid or NSpid line")
	}
	return st, nil
}

// lastNSpid returns the innermost PID of <procRoot>/<pid>/status: the PID as the process's
// own namespace sees it.
func lastNSpid(procRoot string, pid int, buf []byte) (int, []byte, error) {
	st, b, err := readStatus(procRoot, pid, buf)
	if err != nil {
		return 0, b, err
	}
	return st.nspid[len(st.nspid)-1], b, nil
}

// readCgroupFile parses <procRoot>/<pid>/cgroup: v1 controller → path (combined hierarchies
// split into each controller) and the v2 "0::" path.
func readCgroupFile(procRoot string, pid int, buf []byte) (map[string]string, string, []byte, error) {
	b, err := readCgroupRaw(procRoot, pid, buf)
	if err != nil {
		return nil, "", b, err
	}
	v1, unified, err := parseCgroupFile(b)
	if err != nil {
		return nil, "", b, fmt.Errorf("parse %s/%d/cgroup: %w", procRoot, pid, err)
	}
	return v1, unified, b, nil
}

// readCgroupRaw reads <procRoot>/<pid>/cgroup into buf.
func readCgroupRaw(procRoot string, pid int, buf []byte) ([]byte, error) {
	path := procRoot + "/" + strconv.Itoa(pid) + "/cgroup"
	b, err := readPath(append([]byte(path), 0), buf)
	if err != nil {
		return b, procErr(path, err)
	}
	return b, nil
}

// ProcessCgroups returns pid's cgroups as <procRoot>/<pid>/cgroup lists them: each v1
// controller (and named hierarchy) to its path, and the v2 path under "". The OCI hook and the
// native-kernel helper read their own cgroups with it (cgroups(7)).
func ProcessCgroups(procRoot string, pid int) (map[string]string, error) {
	v1, unified, _, err := readCgroupFile(procRoot, pid, nil)
	if err != nil {
		return nil, err
	}
	if unified != "" {
		v1[""] = unified
	}
	return v1, nil
}

// pidnsInode returns the inode of <procRoot>/<pid>/ns/pid from its link text "pid:[N]"
// (a readlink, so fixture trees can carry the link as a plain symlink).
func pidnsInode(procRoot string, pid int) (uint64, error) {
	path := procRoot + "/" + strconv.Itoa(pid) + "/ns/pid"
	s, err := os.Readlink(path)
	if err != nil {
		return 0, procErr(path, errors.Unwrap(err))
	}
	var ino uint64
	if len(s) < 8 || s[:5] != "pid:[" || s[len(s)-1] != ']' {
		return 0, fmt.Errorf("parse %s: bad link %q", path, s)
	}
	ino, err = parseUint([]byte(s[5 : len(s)-1]))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return ino, nil
}

// parseCgroupFile parses "hierarchy-ID:controller-list:path" lines (cgroups(7)). It is
// containerd's cgroups.ParseCgroupFromReaderUnified over bytes: importing that package would
// pull github.com/moby/sys/userns into go.mod for one 20-line function.
func parseCgroupFile(b []byte) (v1 map[string]string, unified string, err error) {
	v1 = make(map[string]string, 12)
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			continue
		}
		_, rest, ok1 := bytes.Cut(line, []byte(":"))
		ctrls, p, ok2 := bytes.Cut(rest, []byte(":"))
		if !ok1 || !ok2 {
			return nil, "", fmt.Errorf("bad line %q", line)
		}
		if len(ctrls) == 0 {
			unified = string(p)
			continue
		}
		for len(ctrls) > 0 {
			var c []byte
			c, ctrls, _ = bytes.Cut(ctrls, []byte(","))
			v1[string(c)] = string(p)
		}
	}
	return v1, unified, nil
}
