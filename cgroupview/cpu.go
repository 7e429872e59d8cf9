package cgroupview

import "fmt"

// CPU returns the container's CPU view (docs/behaviour.md §2.3): effective cpuset, quota as the
// minimum over the cgroup and its ancestors, and total user/system time.
func (r *Reader) CPU(c *Container) (CPU, error) {
	buf := getBuf()
	defer putBuf(buf)
	var v CPU
	if err := r.readCPU(c, &v, buf); err != nil {
		return CPU{}, fmt.Errorf("cpu of %s: %w", c.ID, err)
	}
	return v, nil
}

func (r *Reader) readCPU(c *Container, v *CPU, buf *[]byte) error {
	l, err := r.locate(c, "cpuset")
	if err != nil {
		return err
	}
	if v.Cpuset, err = readCpuset(l, buf); err != nil {
		return err
	}
	if l, err = r.locate(c, "cpu"); err != nil {
		return err
	}
	if l.v2 {
		v.Quota, err = readQuotaV2(l, buf)
	} else {
		v.Quota, err = readQuotaV1(l, buf)
	}
	if err != nil {
		return err
	}
	if l, err = r.locate(c, "cpuacct"); err != nil {
		return err
	}
	if l.v2 {
		v.UserNS, v.SystemNS, err = readCPUUsageV2(l, buf)
	} else {
		v.UserNS, v.SystemNS, err = readCPUUsageV1(l, buf)
	}
	return err
}

// readCpuset returns the effective cpuset: cpuset.cpus, else the effective list (v1
// cpuset.effective_cpus, v2 cpuset.cpus.effective), walking up while both are empty or absent
// (v2 cgroups without the cpuset controller have neither). ErrNoData when no level has one.
func readCpuset(l loc, buf *[]byte) ([]int, error) {
	effective := "cpuset.effective_cpus"
	if l.v2 {
		effective = "cpuset.cpus.effective"
	}
	var cpus []int
	err := l.walkUp(func(dir string) (bool, error) {
		for _, name := range []string{"cpuset.cpus", effective} {
			b, err := readFile(dir+"/"+name, *buf)
			*buf = b
			if isNotExist(err) {
				continue
			}
			if err != nil {
				return true, err
			}
			if cpus, err = parseCpuset(b); err != nil {
				return true, fmt.Errorf("%s/%s: %w", dir, name, err)
			}
			if len(cpus) > 0 {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("read cpuset of %s: %w", l.dir(), ErrNoData)
	}
	return cpus, nil
}
