package switches

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"procfsd/cgroupview"
)

// Where a container's switch value came from (docs/behaviour.md §3), as `procfsd ctl list` prints
// it.
const (
	SourceDefault    = "default"    // never set: isolated, like a new cgroup on a TencentOS kernel
	SourceAnnotation = "annotation" // OCI annotation procfsd.io/container-stats-isolated, via the hook
	SourceLabel      = "label"      // Docker label of the same name, from the engine's metadata
	SourceWrite      = "write"      // the container's root wrote container_stats_isolated
	SourceCtl        = "ctl"        // procfsd ctl set container
)

// How a container's readers are served, as `procfsd ctl list` prints it.
const (
	ModeVirtualized = "virtualized"      // procfsd computes the container's own numbers
	ModePassthrough = "host passthrough" // a switch is 0: the host's files unchanged
	ModeNative      = "native kernel"    // a TencentOS kernel does the work (docs/behaviour.md §3)
)

// OptOutKey is the annotation (podman, CRI-O) or Docker label that sets a container's switch
// at creation (docs/behaviour.md §3).
const OptOutKey = "procfsd.io/container-stats-isolated"

// Entry is one container procfsd has seen, with its switch container_stats_isolated.
type Entry struct {
	// ID is the container key, cgroupview.Container.ID: its v2 path, or its v1 memory path.
	ID string `json:"id"`
	// Name is the runtime's container ID, when a hook registration or Docker named it.
	Name string `json:"name,omitempty"`
	// Cgroup holds the container's cgroup paths by v1 controller ("" for v2), so that the
	// entry can be dropped when the cgroup disappears and the native helper can join them.
	Cgroup   map[string]string `json:"cgroup,omitempty"`
	Isolated bool              `json:"container_stats_isolated"`
	Source   string            `json:"source"`
	// Mode is filled in when the entry is listed; it is not persisted.
	Mode string `json:"mode,omitempty"`
}

// Container is the container e names, with its cgroups.
func (e *Entry) Container() *cgroupview.Container {
	return &cgroupview.Container{ID: e.ID, Paths: e.Cgroup}
}

// table holds the per-container switch container_stats_isolated (docs/behaviour.md §3) of every
// container seen. Entries are immutable and replaced whole, so the read path (every open of
// a virtual file) takes no lock; changes are serialised by mu.
type table struct {
	m       sync.Map // ID → *Entry
	mu      sync.Mutex
	version atomic.Uint64 // bumped by every change; the saver compares it
}

// get returns the entry of id, nil when the container was never seen.
func (sw *table) get(id string) *Entry {
	v, ok := sw.m.Load(id)
	if !ok {
		return nil
	}
	return v.(*Entry)
}

// add records a container seen for the first time; an entry already there wins (a
// concurrent first sight, or a value set by a hook or a write before the first read).
func (sw *table) add(e *Entry) *Entry {
	v, loaded := sw.m.LoadOrStore(e.ID, e)
	if !loaded {
		sw.version.Add(1)
	}
	return v.(*Entry)
}

// put replaces the entry of e.ID.
func (sw *table) put(e *Entry) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.m.Store(e.ID, e)
	sw.version.Add(1)
}

// set changes the switch of container c, keeping what else is known about it.
func (sw *table) set(c *cgroupview.Container, isolated bool, source string) *Entry {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	e := &Entry{ID: c.ID, Cgroup: c.Paths}
	if old := sw.get(c.ID); old != nil {
		e.Name = old.Name
		if e.Cgroup == nil {
			e.Cgroup = old.Cgroup
		}
	}
	e.Isolated, e.Source = isolated, source
	sw.m.Store(e.ID, e)
	sw.version.Add(1)
	return e
}

// drop forgets a container whose cgroup has gone (docs/behaviour.md §3).
func (sw *table) drop(id string) {
	if _, ok := sw.m.LoadAndDelete(id); ok {
		sw.version.Add(1)
	}
}

// list returns every entry, sorted by ID.
// len counts the entries without copying them (status and metrics ask for the count only).
func (sw *table) len() int {
	n := 0
	sw.m.Range(func(_, _ any) bool { n++; return true })
	return n
}

func (sw *table) list() []Entry {
	var out []Entry
	sw.m.Range(func(_, v any) bool {
		out = append(out, *v.(*Entry))
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// find returns the entries a ctl argument names: an exact cgroup path (ID), an exact runtime
// container ID, or a hex runtime ID (at least 12 digits, as `docker ps` abbreviates) that
// starts the name or appears in the cgroup path, which for podman, CRI-O and Docker contains
// the container ID.
func (sw *table) find(arg string) []Entry {
	var exact, loose []Entry
	for _, e := range sw.list() {
		switch {
		case e.ID == arg || e.Name == arg:
			exact = append(exact, e)
		case len(arg) >= 12 && IsHex(arg) && (strings.HasPrefix(e.Name, arg) || containsWord(e.ID, arg)):
			loose = append(loose, e)
		}
	}
	if len(exact) > 0 {
		return exact
	}
	return loose
}

// containsWord reports whether id appears in path as a run of characters not bordered by
// other hex digits ("/docker/<id>", "libpod-<id>", "docker-<id>.scope").
func containsWord(path, id string) bool {
	for i := 0; i+len(id) <= len(path); i++ {
		if path[i:i+len(id)] != id {
			continue
		}
		if i > 0 && isHex(path[i-1]) {
			continue
		}
		if j := i + len(id); j < len(path) && isHex(path[j]) && len(id) == 64 {
			continue
		}
		return true
	}
	return false
}

// IsHex reports whether s is all lower-case hex digits, as runtime container IDs are.
func IsHex(s string) bool {
	for i := range len(s) {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func isHex(b byte) bool { return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' }

// Canonical returns the form of a ctl container argument that entries are keyed by. A
// cgroup path is cleaned lexically ("/x/", "//x", "/x/." and "/a/../x" are all "/x", as the
// kernel writes it in /proc/<pid>/cgroup): an alias would make an entry that readers, keyed by
// the kernel's form, never find and the sweep, finding its directory, never drops.
func Canonical(arg string) (string, error) {
	if arg == "" {
		return "", errors.New("no container named")
	}
	if arg[0] != '/' {
		return arg, nil // a runtime container ID
	}
	p := path.Clean(arg)
	if p == "/" {
		return "", fmt.Errorf("%q is the root cgroup, which has no container switch", arg)
	}
	return p, nil
}
