package cgroupview

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Reader reads container views from one cgroup root and one proc root. It is safe for
// concurrent use; the *Container values it returns are shared and must not be modified.
type Reader struct {
	mode       Mode
	cgroupRoot string
	procRoot   string
	v1         map[string]string // v1 controller → its hierarchy directory (Legacy, Hybrid)
	unified    string            // v2 hierarchy directory, "" when there is none

	finder   initFinder
	resolved *resolveCache
	inits    initCache
	now      func() time.Time

	// threadStat: procRoot is a procfs, whose <tid>/task/<tid>/stat countStates reads
	// (threadState).
	threadStat bool

	// hits and misses count resolutions the cache answered and those that read /proc/<pid>
	// (CacheCounts).
	hits, misses atomic.Uint64
}

// New detects the layout under cgroupRoot (see DetectMode) and finds its hierarchies: each v1
// controller at <root>/<ctrl> (or a combined <root>/cpu,cpuacct), the v2 hierarchy at the root
// (Unified) or <root>/unified (Hybrid). procRoot is where /proc/<pid> trees are read.
func New(cgroupRoot, procRoot string) (*Reader, error) {
	mode, err := DetectMode(cgroupRoot)
	if err != nil {
		return nil, err
	}
	r := &Reader{
		mode:       mode,
		cgroupRoot: cgroupRoot,
		procRoot:   procRoot,
		resolved:   newResolveCache(resolveTTL, maxResolved),
		now:        time.Now,
	}
	switch mode {
	case Unified:
		r.unified = cgroupRoot
	case Hybrid:
		r.unified = filepath.Join(cgroupRoot, "unified")
		fallthrough
	case Legacy:
		if r.v1, err = findV1(cgroupRoot); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(procRoot, "self", "task")); err == nil {
		r.threadStat = true
	}
	scan := scanFinder{procRoot: procRoot}
	r.finder = scan
	if samePIDNamespace(procRoot) {
		r.finder = chainFinder{&ioctlFinder{procRoot: procRoot}, scan}
		r.resolved.pidfds = true // PIDs under procRoot are ours to open (cache.go)
	}
	return r, nil
}

// Mode returns the layout found by New.
func (r *Reader) Mode() Mode { return r.mode }

// loc is where one controller of a container lives: the hierarchy directory, the cgroup path
// inside it, and whether it is the v2 hierarchy (which decides the file names).
type loc struct {
	mount string
	path  string // absolute inside the hierarchy, "/" for its root
	v2    bool
}

func (l loc) dir() string { return l.mount + l.path }

// at returns the directory of ancestor p (a prefix of l.path).
func (l loc) at(p string) string { return l.mount + p }

// walkUp calls fn for the cgroup's directory and each ancestor's, up to the hierarchy root,
// until fn returns done or an error.
func (l loc) walkUp(fn func(dir string) (done bool, err error)) error {
	p := l.path
	for {
		done, err := fn(l.at(p))
		if err != nil || done || p == "/" {
			return err
		}
		p = path.Dir(p)
	}
}

// locate finds controller ctrl of c: v1 where that controller is mounted, else the unified
// hierarchy (docs/behaviour.md §2.1, hybrid).
func (r *Reader) locate(c *Container, ctrl string) (loc, error) {
	if m, ok := r.v1[ctrl]; ok {
		if p, ok := c.Paths[ctrl]; ok {
			return loc{mount: m, path: cleanPath(p)}, nil
		}
	}
	if r.unified != "" {
		if p, ok := c.Paths[""]; ok {
			return loc{mount: r.unified, path: cleanPath(p), v2: true}, nil
		}
	}
	return loc{}, fmt.Errorf("locate %s cgroup of %s: %w", ctrl, c.ID, ErrNoData)
}

func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	return path.Clean("/" + p)
}

// Exists reports whether the container's cgroup directory (the one its ID names) still exists.
func (r *Reader) Exists(c *Container) bool {
	l, err := r.locate(c, "memory")
	if err != nil {
		return false
	}
	fi, err := os.Stat(l.dir())
	return err == nil && fi.IsDir()
}

// Pressure returns the raw <resource>.pressure file ("cpu", "memory" or "io") of the container's v2
// cgroup (docs/behaviour.md §2.5), ErrNoData when there is none (v1-only hosts, kernels without
// PSI).
func (r *Reader) Pressure(c *Container, resource string) ([]byte, error) {
	switch resource {
	case "cpu", "memory", "io":
	default:
		return nil, fmt.Errorf("read pressure: unknown resource %q", resource)
	}
	p, ok := c.Paths[""]
	if r.unified == "" || !ok {
		return nil, fmt.Errorf("read %s.pressure of %s: %w", resource, c.ID, ErrNoData)
	}
	file := filepath.Join(r.unified, cleanPath(p), resource+".pressure")
	b, err := readFile(file, nil)
	if err != nil {
		if isNotExist(err) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, fmt.Errorf("%w: %w", ErrNoData, err)
		}
		return nil, err
	}
	return b, nil
}

// Prune drops the cached resolutions that have expired, closing the pidfds they hold. Puts sweep
// too, but only while readers keep coming: the daemon calls Prune on a timer so that a quiet spell
// after a burst of short-lived readers holds no descriptors (docs/behaviour.md §2.1: an entry never
// outlives its process by more than the cache's lifetime).
func (r *Reader) Prune() { r.resolved.prune(r.now()) }
