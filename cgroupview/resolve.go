package cgroupview

import (
	"fmt"
	"sort"
	"strings"
)

// Resolve returns the container of the process (thread) with host PID pid, by the rules of
// docs/behaviour.md §2.1:
//   - a caller in procRoot's PID namespace (one NSpid entry) gets its own cgroups, InitPID 0;
//   - otherwise the init (PID 1) of the caller's PID namespace is found, and per controller the
//     init's cgroup minus a trailing "/init.scope" is the container root, provided it is the
//     caller's own cgroup or an ancestor of it (every process of a container sees the same
//     numbers, whatever nested cgroup it sits in);
//   - else (Kubernetes shared PID namespace, where init is the pod's pause process) the caller's
//     own cgroup.
//
// A process that has exited is ErrProcessGone. Results are cached by (pid, start time) for a
// short time; a cached Resolve is one pidfd liveness check (or, without pidfds, one read of
// /proc/<pid>/stat). An entry just past that time is renewed when the process's cgroups, and
// its namespace init's, read as they did: three reads instead of a whole lookup.
func (r *Reader) Resolve(pid int) (*Container, error) {
	if c, ok := r.Resolved(pid); ok {
		return c, nil
	}
	return r.ResolveUncached(pid)
}

// Resolved returns pid's container when the cache proves it without reading /proc: an entry
// whose pidfd shows the same process still running (cache.go). It makes one system call. A
// server calls it first to learn whether Resolve would have to wait for /proc.
func (r *Reader) Resolved(pid int) (*Container, bool) {
	if pid <= 0 {
		return nil, false
	}
	c, ok := r.resolved.alive(pid, r.now())
	if ok {
		r.hits.Add(1)
	}
	return c, ok
}

// CacheCounts returns how many resolutions the cache answered and how many read the process's
// cgroups from /proc since the Reader was made (procfsd_resolve_cache_*, docs/behaviour.md §1.4).
func (r *Reader) CacheCounts() (hits, misses uint64) { return r.hits.Load(), r.misses.Load() }

// ResolveUncached is Resolve without the pidfd check: it reads /proc/<pid>/stat, and the rest of
// /proc/<pid> unless an entry keyed by the process's start time still holds.
func (r *Reader) ResolveUncached(pid int) (*Container, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("resolve pid %d: invalid pid", pid)
	}
	now := r.now()
	_, start, err := readStat(r.procRoot, pid)
	if err != nil {
		return nil, err
	}
	if c, ok := r.resolved.get(pid, start, now); ok {
		r.hits.Add(1)
		return c, nil
	}
	if c, sum, ok := r.resolved.renewable(pid, start, now); ok {
		// The start time proves the same process; the same cgroup files prove the same
		// container (everything else resolve reads is fixed for the process's life).
		if s, err := r.cgroupSum(pid, c.InitPID); err == nil && s == sum {
			r.resolved.renew(pid, start, c, now)
			r.hits.Add(1)
			return c, nil
		}
	}
	r.misses.Add(1)
	c, sum, err := r.resolve(pid, start)
	if err != nil {
		return nil, err
	}
	pidfd := r.resolved.open(pid)
	// The PID may have been reused while its files were read: only an unchanged start time
	// proves that everything read (and the pidfd) belongs to the process the key names.
	if _, again, err := readStat(r.procRoot, pid); err != nil || again != start {
		closePidfd(pidfd)
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("resolve pid %d: %w: pid reused during lookup", pid, ErrProcessGone)
	}
	r.resolved.putFD(pid, start, c, sum, now, pidfd)
	return c, nil
}

// resolve finds pid's container, and the sum of the cgroup files it was found from (cgroupSum).
func (r *Reader) resolve(pid int, start uint64) (*Container, uint64, error) {
	buf := getBuf()
	defer putBuf(buf)
	own, err := r.cgroupPaths(pid, buf)
	if err != nil {
		return nil, 0, err
	}
	sum := fnv1a(fnvOffset, *buf)
	st, b, err := readStatus(r.procRoot, pid, *buf)
	*buf = b
	if err != nil {
		return nil, 0, err
	}
	if len(st.nspid) == 1 { // the host PID namespace, as procRoot sees it
		c := newContainer(r, own)
		c.InitStart = start
		if st.tgid != pid { // uptime of a host process counts from its thread group leader
			if c.InitStart, err = ProcessStart(r.procRoot, st.tgid); err != nil {
				return nil, 0, err
			}
		}
		return c, sum, nil
	}
	init, err := r.initOf(pid)
	if err != nil {
		return nil, 0, err
	}
	initPaths, err := r.cgroupPaths(init.pid, buf)
	if err != nil {
		return nil, 0, fmt.Errorf("resolve init %d of pid %d: %w", init.pid, pid, err)
	}
	sum = fnv1a(sum, *buf)
	paths := make(map[string]string, len(own))
	for ctrl, p := range own {
		paths[ctrl] = containerRoot(p, initPaths[ctrl])
	}
	c := newContainer(r, paths)
	c.InitPID, c.InitStart = init.pid, init.start
	return c, sum, nil
}

// cgroupSum is the FNV-1a sum of pid's /proc/<pid>/cgroup and, for initPID other than 0, its
// namespace init's: what resolve found the container from, besides what cannot change while
// the process lives (its PID namespace and thread group).
func (r *Reader) cgroupSum(pid, initPID int) (uint64, error) {
	buf := getBuf()
	defer putBuf(buf)
	b, err := readCgroupRaw(r.procRoot, pid, *buf)
	*buf = b
	if err != nil {
		return 0, err
	}
	sum := fnv1a(fnvOffset, b)
	if initPID == 0 {
		return sum, nil
	}
	b, err = readCgroupRaw(r.procRoot, initPID, *buf)
	*buf = b
	if err != nil {
		return 0, err
	}
	return fnv1a(sum, b), nil
}

// FNV-1a, 64 bits (the offset basis and prime of hash/fnv), without hash/fnv's allocation.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv1a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// containerRoot applies docs/behaviour.md §2.1 to one controller: the init's cgroup without a
// trailing "/init.scope" when that is the caller's cgroup or an ancestor of it, else the caller's
// own.
func containerRoot(own, init string) string {
	if init == "" {
		return own
	}
	root := strings.TrimSuffix(init, "/init.scope")
	if root == "" {
		root = "/"
	}
	if isAncestorOrSelf(root, own) {
		return root
	}
	return own
}

func isAncestorOrSelf(a, b string) bool {
	return a == b || a == "/" || strings.HasPrefix(b, a) && b[len(a)] == '/'
}

// cgroupPaths returns the cgroup paths of pid that matter here: the v1 controllers that are
// mounted (Legacy, Hybrid) and the v2 path under "" (Unified, Hybrid).
func (r *Reader) cgroupPaths(pid int, buf *[]byte) (map[string]string, error) {
	v1, unified, b, err := readCgroupFile(r.procRoot, pid, *buf)
	*buf = b
	if err != nil {
		return nil, err
	}
	paths := make(map[string]string, len(v1Controllers)+1)
	for ctrl := range r.v1 {
		if p, ok := v1[ctrl]; ok {
			paths[ctrl] = cleanPath(p)
		}
	}
	if r.unified != "" && unified != "" {
		paths[""] = cleanPath(unified)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("read %s/%d/cgroup: no cgroup of a known hierarchy", r.procRoot, pid)
	}
	return paths, nil
}

// newContainer fills ID and Root from the paths (see Container).
func newContainer(r *Reader, paths map[string]string) *Container {
	c := &Container{Paths: paths, Root: true}
	for _, p := range paths {
		if p != "/" {
			c.Root = false
		}
	}
	switch {
	case r.mode == Unified:
		c.ID = paths[""]
	default:
		if p, ok := c.Path("memory"); ok {
			c.ID = p
			break
		}
		keys := make([]string, 0, len(paths))
		for k := range paths {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		c.ID = paths[keys[0]]
	}
	return c
}

// initOf returns the init of pid's PID namespace, from the per-namespace cache when that init
// is still alive, else from the finder.
func (r *Reader) initOf(pid int) (initProc, error) {
	ns, err := pidnsInode(r.procRoot, pid)
	if err != nil {
		return initProc{}, err
	}
	if p, ok := r.inits.get(ns); ok {
		if s, err := ProcessStart(r.procRoot, p.pid); err == nil && s == p.start {
			return p, nil
		}
		r.inits.drop(ns)
	}
	ipid, err := r.finder.findInit(pid, ns)
	if err != nil {
		// The namespace's init is gone, so the kernel is killing the caller too.
		return initProc{}, fmt.Errorf("find init of pid %d: %w: %w", pid, ErrProcessGone, err)
	}
	start, err := ProcessStart(r.procRoot, ipid)
	if err != nil {
		return initProc{}, err
	}
	if ino, err := pidnsInode(r.procRoot, ipid); err != nil || ino != ns {
		return initProc{}, fmt.Errorf("find init of pid %d: %w: pid %d left namespace %d", pid, ErrProcessGone, ipid, ns)
	}
	p := initProc{pid: ipid, start: start}
	r.inits.put(ns, p)
	return p, nil
}
