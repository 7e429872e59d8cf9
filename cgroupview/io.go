package cgroupview

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
)

// IO returns the container's block I/O per device (docs/behaviour.md §2.5): v2 io.stat, or the v1
// blkio recursive counters. ErrNoData when the cgroup exposes neither.
func (r *Reader) IO(c *Container) (IO, error) {
	l, err := r.locate(c, "blkio")
	if err != nil {
		return IO{}, err
	}
	buf := getBuf()
	defer putBuf(buf)
	var io IO
	if l.v2 {
		io, err = readIOV2(l, buf)
	} else {
		io, err = readIOV1(l, buf)
	}
	if err != nil {
		return IO{}, fmt.Errorf("io of %s: %w", c.ID, err)
	}
	return io, nil
}

type devKey struct{ major, minor uint32 }

type devMap map[devKey]*DeviceIO

func (m devMap) get(k devKey) *DeviceIO {
	d, ok := m[k]
	if !ok {
		d = &DeviceIO{Major: k.major, Minor: k.minor}
		m[k] = d
	}
	return d
}

// parseDev parses "MAJ:MIN".
func parseDev(b []byte) (devKey, error) {
	maj, min, ok := bytes.Cut(b, []byte(":"))
	if !ok {
		return devKey{}, errors.New("device is not MAJ:MIN")
	}
	a, err := parseUint(maj)
	if err != nil || a > 1<<32-1 {
		return devKey{}, fmt.Errorf("bad major %q", maj)
	}
	i, err := parseUint(min)
	if err != nil || i > 1<<32-1 {
		return devKey{}, fmt.Errorf("bad minor %q", min)
	}
	return devKey{uint32(a), uint32(i)}, nil
}

// sortedIO returns the devices ordered by major, minor, for stable output.
func sortedIO(m devMap) IO {
	io := IO{Devices: make([]DeviceIO, 0, len(m))}
	for _, d := range m {
		io.Devices = append(io.Devices, *d)
	}
	sort.Slice(io.Devices, func(i, j int) bool {
		a, b := io.Devices[i], io.Devices[j]
		return a.Major < b.Major || a.Major == b.Major && a.Minor < b.Minor
	})
	return io
}
