package fs

import (
	"path"
	"syscall"
)

// fileKind says what a node serves. Virtual files render a container view; control files hold
// the switches of docs/behaviour.md §3; directories only list.
type fileKind int

const (
	kindDir fileKind = iota
	kindVirtual
	kindControl
)

// node is one entry of the static tree. Its ID is the FUSE node ID the kernel caches: it never
// changes between releases or processes, so a successor process can serve a connection its
// predecessor opened (docs/behaviour.md §5.1, docs/restarts.md). Add new files at the end with new
// IDs; never renumber.
type node struct {
	id     uint64
	path   string // relative to the mountpoint; "" is the root
	kind   fileKind
	mode   uint32 // permission bits
	render renderFunc
	// hostPSI marks the pressure files, which exist only where the host has /proc/pressure.
	hostPSI bool
}

// The tree of docs/behaviour.md §1.2, LXCFS-compatible so existing bind-mount recipes work
// unchanged.
var table = []node{
	{id: 1, path: "", kind: kindDir, mode: 0o555},
	{id: 2, path: "proc", kind: kindDir, mode: 0o555},
	{id: 3, path: "sys", kind: kindDir, mode: 0o555},
	{id: 4, path: "sys/devices", kind: kindDir, mode: 0o555},
	{id: 5, path: "sys/devices/system", kind: kindDir, mode: 0o555},
	{id: 6, path: "sys/devices/system/cpu", kind: kindDir, mode: 0o555},
	{id: 7, path: "proc/pressure", kind: kindDir, mode: 0o555, hostPSI: true},
	{id: 8, path: "proc/sys", kind: kindDir, mode: 0o555},
	{id: 9, path: "proc/sys/kernel", kind: kindDir, mode: 0o555},

	{id: 10, path: "proc/cpuinfo", kind: kindVirtual, mode: 0o444, render: renderCpuinfo},
	{id: 11, path: "proc/meminfo", kind: kindVirtual, mode: 0o444, render: renderMeminfo},
	{id: 12, path: "proc/stat", kind: kindVirtual, mode: 0o444, render: renderStat},
	{id: 13, path: "proc/vmstat", kind: kindVirtual, mode: 0o444, render: renderVmstat},
	{id: 14, path: "proc/loadavg", kind: kindVirtual, mode: 0o444, render: renderLoadavg},
	{id: 15, path: "proc/uptime", kind: kindVirtual, mode: 0o444, render: renderUptime},
	{id: 16, path: "proc/swaps", kind: kindVirtual, mode: 0o444, render: renderSwaps},
	{id: 17, path: "proc/diskstats", kind: kindVirtual, mode: 0o444, render: renderDiskstats},
	{id: 18, path: "proc/pressure/cpu", kind: kindVirtual, mode: 0o444, render: renderPressure("cpu"), hostPSI: true},
	{id: 19, path: "proc/pressure/memory", kind: kindVirtual, mode: 0o444, render: renderPressure("memory"), hostPSI: true},
	{id: 20, path: "proc/pressure/io", kind: kindVirtual, mode: 0o444, render: renderPressure("io"), hostPSI: true},
	{id: 21, path: "sys/devices/system/cpu/online", kind: kindVirtual, mode: 0o444, render: renderOnline},
	{id: 22, path: "proc/sys/kernel/stats_isolated", kind: kindControl, mode: 0o644},
	{id: 23, path: "proc/sys/kernel/container_stats_isolated", kind: kindControl, mode: 0o644},
}

const rootID = 1

// tree is the table indexed for the requests: by ID, and by (parent ID, name).
type tree struct {
	byID     map[uint64]*node
	children map[uint64][]*node // in table order, for READDIR
	byName   map[childKey]*node
}

type childKey struct {
	parent uint64
	name   string
}

// newTree indexes the table, leaving out the pressure files when the host has no PSI.
func newTree(hostPSI bool) *tree {
	t := &tree{byID: map[uint64]*node{}, children: map[uint64][]*node{}, byName: map[childKey]*node{}}
	byPath := map[string]*node{}
	for i := range table {
		n := &table[i]
		if n.hostPSI && !hostPSI {
			continue
		}
		t.byID[n.id] = n
		byPath[n.path] = n
		if n.id == rootID {
			continue
		}
		dir, name := path.Split(n.path)
		parent := byPath[path.Clean("/" + dir)[1:]]
		t.children[parent.id] = append(t.children[parent.id], n)
		t.byName[childKey{parent.id, name}] = n
	}
	return t
}

// fileMode is the node's st_mode.
func (n *node) fileMode() uint32 {
	if n.kind == kindDir {
		return syscall.S_IFDIR | n.mode
	}
	return syscall.S_IFREG | n.mode
}

// name is the last path element.
func (n *node) name() string { return path.Base(n.path) }
