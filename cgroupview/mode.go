package cgroupview

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Mode is the cgroup layout of a host. The values equal containerd/cgroups' CGMode.
type Mode int

// The layouts, as containerd/cgroups names them.
const (
	Unavailable Mode = iota
	Legacy           // v1 controllers only
	Hybrid           // v1 controllers plus a v2 hierarchy at <root>/unified
	Unified          // v2 only
)

func (m Mode) String() string {
	switch m {
	case Legacy:
		return "legacy"
	case Hybrid:
		return "hybrid"
	case Unified:
		return "unified"
	}
	return "unavailable"
}

// v1Controllers are the v1 controllers a container view reads (docs/behaviour.md §2.2–2.5). Others
// (devices, freezer, name=systemd, ...) are never looked at.
var v1Controllers = []string{"memory", "cpu", "cpuacct", "cpuset", "blkio", "pids"}

// DetectMode reports the cgroup layout under cgroupRoot. Like containerd's cgroups.Mode it goes
// by statfs magic: a cgroup2 root is Unified; a cgroup2 <root>/unified is Hybrid; v1 mounts
// alone are Legacy. Unlike it, the root is a parameter and nothing is cached. When nothing
// under the root is a cgroup file system (a fixture tree), the layout decides: cgroup.controllers
// at the root is Unified; v1 controller directories plus unified/cgroup.controllers is Hybrid;
// v1 controller directories alone are Legacy.
func DetectMode(cgroupRoot string) (Mode, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return Unavailable, fmt.Errorf("statfs %s: %w", cgroupRoot, err)
	}
	switch st.Type {
	case unix.CGROUP2_SUPER_MAGIC:
		return Unified, nil
	case unix.CGROUP_SUPER_MAGIC: // one v1 hierarchy mounted at the root itself
		return Legacy, nil
	}
	if fsMagic(filepath.Join(cgroupRoot, "unified")) == unix.CGROUP2_SUPER_MAGIC {
		return Hybrid, nil
	}
	mounts, err := findV1(cgroupRoot)
	if err != nil {
		return Unavailable, err
	}
	for _, dir := range mounts {
		if fsMagic(dir) == unix.CGROUP_SUPER_MAGIC {
			return Legacy, nil
		}
	}
	// Not mounted: a plain directory tree, decided by its layout.
	if exists(filepath.Join(cgroupRoot, "cgroup.controllers")) {
		return Unified, nil
	}
	if len(mounts) > 0 {
		if exists(filepath.Join(cgroupRoot, "unified", "cgroup.controllers")) {
			return Hybrid, nil
		}
		return Legacy, nil
	}
	return Unavailable, fmt.Errorf("detect mode of %s: %w", cgroupRoot, ErrNoCgroups)
}

// findV1 maps each v1 controller of v1Controllers to its hierarchy directory under root. A
// combined mount such as "cpu,cpuacct" serves every controller in its name; the usual
// "cpu -> cpu,cpuacct" symlinks resolve to the same hierarchy.
func findV1(root string) (map[string]string, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", root, err)
	}
	mounts := make(map[string]string)
	for _, e := range ents {
		name := e.Name()
		if name == "unified" || !isDir(filepath.Join(root, name)) {
			continue
		}
		for _, ctrl := range splitComma(name) {
			if !wanted(ctrl) {
				continue
			}
			// Prefer the directory named exactly after the controller (a symlink or a
			// single-controller mount) over a combined name; both are the same hierarchy.
			if _, ok := mounts[ctrl]; !ok || name == ctrl {
				mounts[ctrl] = filepath.Join(root, name)
			}
		}
	}
	return mounts, nil
}

func wanted(ctrl string) bool {
	for _, c := range v1Controllers {
		if c == ctrl {
			return true
		}
	}
	return false
}

func splitComma(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != ',' {
			i++
		}
		out = append(out, s[:i])
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	return out
}

func fsMagic(path string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0
	}
	return int64(st.Type)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path) // follows the cpu -> cpu,cpuacct symlinks
	return err == nil && fi.IsDir()
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
