package proc

import (
	"bytes"
	"strconv"

	"procfsd/cgroupview"
)

// /proc/diskstats (kernel block/genhd.c diskstats_show: "%4d %7d %pg" then the counters of
// Documentation/admin-guide/iostats.rst). docs/behaviour.md §2.5: each host device keeps its major,
// minor, name and their column layout; its counters become the container's. io.stat and the blkio
// files count only requests, bytes and discards, so merges, times and in-flight are 0, and a device
// the container never touched reads all zeros. Hosts print 11 counters (before 4.18), 15 (with
// discards) or 17 (with flushes, 5.5+); the line keeps the host's count.

// diskCounters are the positions (0-based, after the name) that the container's IO fills.
var diskCounters = [...]struct {
	pos int
	get func(d *cgroupview.DeviceIO) uint64
}{
	{0, func(d *cgroupview.DeviceIO) uint64 { return d.ReadOps }},
	{2, func(d *cgroupview.DeviceIO) uint64 { return d.ReadBytes / 512 }},
	{4, func(d *cgroupview.DeviceIO) uint64 { return d.WriteOps }},
	{6, func(d *cgroupview.DeviceIO) uint64 { return d.WriteBytes / 512 }},
	{11, func(d *cgroupview.DeviceIO) uint64 { return d.DiscardOps }},
	{13, func(d *cgroupview.DeviceIO) uint64 { return d.DiscardBytes / 512 }},
}

// RenderDiskstats appends the container's /proc/diskstats.
func RenderDiskstats(w *bytes.Buffer, host []byte, io cgroupview.IO) error {
	start := w.Len()
	w.Grow(len(host))
	for n, rest := 1, host; len(rest) > 0; n++ {
		var line []byte
		line, rest = nextLine(rest)
		body := bytes.TrimSuffix(line, []byte{'\n'})
		if len(bytes.TrimSpace(body)) == 0 {
			w.Write(line)
			continue
		}
		major, minor, nameEnd, counters, ok := diskLine(body)
		if !ok {
			w.Truncate(start)
			return lineError("diskstats", n, body, "want major, minor, name and 11+ counters")
		}
		w.Write(body[:nameEnd])
		writeDiskCounters(w, findDevice(io, major, minor), counters)
		w.Write(line[len(body):])
	}
	return nil
}

func writeDiskCounters(w *bytes.Buffer, d *cgroupview.DeviceIO, counters int) {
	var v [17]uint64
	if d != nil {
		for _, c := range diskCounters {
			v[c.pos] = c.get(d)
		}
	}
	for i := range counters {
		w.WriteByte(' ')
		if i < len(v) {
			w.Write(strconv.AppendUint(w.AvailableBuffer(), v[i], 10))
		} else {
			w.WriteByte('0') // a counter newer than this code knows
		}
	}
}

func findDevice(io cgroupview.IO, major, minor uint32) *cgroupview.DeviceIO {
	for i := range io.Devices {
		if d := &io.Devices[i]; d.Major == major && d.Minor == minor {
			return d
		}
	}
	return nil
}

// diskLine finds a line's device numbers, where its name ends and how many counters follow.
func diskLine(body []byte) (major, minor uint32, nameEnd, counters int, ok bool) {
	var span [3][2]int // major, minor, name
	off, nf := 0, 0
	for {
		s, e := nextField(body, off)
		if s == e {
			break
		}
		if nf < len(span) {
			span[nf] = [2]int{s, e}
		}
		nf, off = nf+1, e
	}
	maj, ok1 := atoi(body[span[0][0]:span[0][1]])
	mnr, ok2 := atoi(body[span[1][0]:span[1][1]])
	if nf < 3+11 || !ok1 || !ok2 {
		return 0, 0, 0, 0, false
	}
	return uint32(maj), uint32(mnr), span[2][1], nf - 3, true
}

// nextField returns the bounds of the first space-separated field of b at or after off.
func nextField(b []byte, off int) (start, end int) {
	for off < len(b) && (b[off] == ' ' || b[off] == '\t') {
		off++
	}
	start = off
	for off < len(b) && b[off] != ' ' && b[off] != '\t' {
		off++
	}
	return start, off
}
