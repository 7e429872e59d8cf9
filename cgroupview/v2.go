package cgroupview

import (
	"bytes"
	"fmt"
	"strings"
)

// cgroup v2 readers (Documentation/admin-guide/cgroup-v2.rst). Files a cgroup lacks because
// the controller is not enabled for it count as "no limit at this level".

// readMemoryV2 reads memory.{max,current,stat} and memory.swap.{max,current}. The limits are
// minima over ancestors: a Kubernetes container cgroup says "max" while its pod carries the
// limit.
func readMemoryV2(l loc, m *Memory, buf *[]byte) error {
	var err error
	if m.Limit, _, err = minLimit(l, "memory.max", buf); err != nil {
		return err
	}
	dir := l.dir()
	if m.Usage, err = readUint(dir+"/memory.current", buf); err != nil {
		return err
	}
	if m.SwapLimit, _, err = minLimit(l, "memory.swap.max", buf); err != nil {
		return err
	}
	swUsage, err := readUint(dir+"/memory.swap.current", buf)
	switch {
	case err == nil:
		m.SwapUsage, m.SwapAccounted = swUsage, true
	case isNotExist(err): // swap accounting off (or CONFIG_SWAP=n)
		m.SwapLimit = Unlimited
	default:
		return err
	}
	b, err := readFile(dir+"/memory.stat", *buf)
	*buf = b
	if err != nil {
		return err
	}
	m.Stat = make(map[string]uint64, 64)
	if err := forEachKV(b, func(k []byte, v uint64) error {
		m.Stat[internStat(k)] = v
		return nil
	}); err != nil {
		return fmt.Errorf("parse %s/memory.stat: %w", dir, err)
	}
	return nil
}

// readQuotaV2 returns min over the cgroup and its ancestors of cpu.max "$QUOTA $PERIOD" in CPUs,
// 0 when every level says "max".
func readQuotaV2(l loc, buf *[]byte) (float64, error) {
	var quota float64
	err := l.walkUp(func(dir string) (bool, error) {
		b, err := readFile(dir+"/cpu.max", *buf)
		*buf = b
		if isNotExist(err) {
			return false, nil
		}
		if err != nil {
			return true, err
		}
		qf, rest := cutField(trimNL(b))
		q, err := parseLimit(qf)
		if err != nil {
			return true, fmt.Errorf("parse %s/cpu.max: %w", dir, err)
		}
		if q == Unlimited {
			return false, nil
		}
		period, err := parseUint(bytes.TrimSpace(rest))
		if err != nil {
			return true, fmt.Errorf("parse %s/cpu.max: %w", dir, err)
		}
		if period > 0 {
			quota = minQuota(quota, float64(q)/float64(period))
		}
		return false, nil
	})
	return quota, err
}

// readCPUUsageV2 returns user_usec and system_usec of cpu.stat in nanoseconds.
func readCPUUsageV2(l loc, buf *[]byte) (user, system uint64, err error) {
	var v [2]uint64
	if err := readCPUStatV2(l, buf, []string{"user_usec", "system_usec"}, v[:]); err != nil {
		return 0, 0, err
	}
	return v[0], v[1], nil
}

// readCPUStatV2 reads the values of keys from cpu.stat into vals, in nanoseconds (the file
// counts µs); a key it lacks is an error. cpu.stat exists in every v2 cgroup, with or without
// the cpu controller.
func readCPUStatV2(l loc, buf *[]byte, keys []string, vals []uint64) error {
	path := l.dir() + "/cpu.stat"
	b, err := readFile(path, *buf)
	*buf = b
	if err != nil {
		return err
	}
	found := 0 // bit i: keys[i] seen
	err = forEachKV(b, func(k []byte, v uint64) error {
		for i, key := range keys {
			if string(k) == key {
				vals[i], found = v*1000, found|1<<i
			}
		}
		return nil
	})
	if err == nil && found != 1<<len(keys)-1 {
		err = fmt.Errorf("no %s", strings.Join(keys, " or "))
	}
	if err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// readIOV2 parses io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N", keys
// matched exactly; others (cost.*, newer additions) are skipped. ErrNoData without io.stat.
func readIOV2(l loc, buf *[]byte) (IO, error) {
	path := l.dir() + "/io.stat"
	b, err := readFile(path, *buf)
	*buf = b
	if isNotExist(err) {
		return IO{}, fmt.Errorf("%w: %w", ErrNoData, err)
	}
	if err != nil {
		return IO{}, err
	}
	devs := devMap{}
	if err := parseIOStat(b, devs); err != nil {
		return IO{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return sortedIO(devs), nil
}

func parseIOStat(b []byte, devs devMap) error {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		devf, rest := cutField(line)
		if len(devf) == 0 {
			continue
		}
		key, err := parseDev(devf)
		if err != nil {
			return fmt.Errorf("line %q: %w", line, err)
		}
		d := devs.get(key)
		for len(rest) > 0 {
			var kv []byte
			kv, rest = cutField(rest)
			k, vb, ok := bytes.Cut(kv, []byte("="))
			if !ok {
				return fmt.Errorf("line %q: field %q is not key=value", line, kv)
			}
			var field *uint64
			switch string(k) {
			case "rbytes":
				field = &d.ReadBytes
			case "wbytes":
				field = &d.WriteBytes
			case "rios":
				field = &d.ReadOps
			case "wios":
				field = &d.WriteOps
			case "dbytes":
				field = &d.DiscardBytes
			case "dios":
				field = &d.DiscardOps
			default:
				continue
			}
			if *field, err = parseUint(vb); err != nil {
				return fmt.Errorf("line %q: %s: %w", line, k, err)
			}
		}
	}
	return nil
}
