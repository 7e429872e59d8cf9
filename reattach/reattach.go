package reattach

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"procfsd/statedir"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// FSType is the type procfsd's mounts show in mountinfo.
const FSType = "fuse.procfsd"

// Options say which live mount repairs the dead ones.
type Options struct {
	Mountpoint string        // the live procfsd mount, in the caller's mount namespace
	Proc       string        // the host's /proc (the real one: namespaces are not fixtures); default /proc
	Timeout    time.Duration // per probe of a connection that is not ours; default 2s
	// NoBeneath replaces dead mounts the way kernels before 6.5 must (detach, then mount),
	// even where MOVE_MOUNT_BENEATH would avoid showing the covered file in between.
	NoBeneath bool
}

// Report says what Run found and did. Live counts mounts that answered, Fixed lists those
// replaced by a clone of the live mount, Failed the dead ones that stay dead (and, without a
// Target, namespaces whose mount table is over the read bound, left alone), and Unanswered
// those whose connection is alive but not served (another daemon's, stopped or restarting):
// not dead, so not replaced.
type Report struct {
	Mountpoint string  `json:"mountpoint"`
	Namespaces int     `json:"namespaces"` // mount namespaces, other than ours, with procfsd mounts
	Live       int     `json:"live"`
	Fixed      []Mount `json:"fixed"`
	Failed     []Mount `json:"failed"`
	Unanswered []Mount `json:"unanswered"`
}

// Mount is one procfsd mount in a container's mount namespace.
type Mount struct {
	PID     int    `json:"pid"`           // a process in the namespace (host PID)
	MountNS string `json:"mntns"`         // e.g. "mnt:[4026532301]"
	Target  string `json:"target"`        // the mount point, as the process sees it
	File    string `json:"file"`          // the tree path it shows, e.g. /proc/meminfo
	Way     string `json:"way,omitempty"` // how a fixed mount was replaced: WayBeneath, WayReplace or WayOver
	Error   string `json:"error,omitempty"`
}

// namespace is a mount namespace with procfsd mounts, seen through one of its processes.
type namespace struct {
	id     string
	pid    int
	mounts []mount
}

// Run scans every mount namespace but the caller's and replaces dead procfsd mounts with live
// ones. An error means nothing could be checked; per-mount failures are in the report.
func Run(o Options) (*Report, error) {
	if o.Proc == "" {
		o.Proc = "/proc"
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	mnt, err := filepath.Abs(o.Mountpoint)
	if err != nil {
		return nil, fmt.Errorf("resolve mountpoint: %w", err)
	}
	o.Mountpoint = mnt
	liveDev, err := liveMount(o)
	if err != nil {
		return nil, err
	}
	nss, unreadable, err := scan(o.Proc)
	if err != nil {
		return nil, err
	}
	r := &Report{Mountpoint: mnt, Namespaces: len(nss), Fixed: []Mount{}, Failed: unreadable, Unanswered: []Mount{}}
	// A connection is dead or alive as a whole: probe each device once, so that an unserved
	// connection costs one timeout, not one per mount.
	state := map[string]error{liveDev: nil}
	for _, ns := range nss {
		var todo []mount
		for _, m := range ns.mounts {
			err, known := state[m.dev]
			if !known {
				if _, err = probe(ns.path(o.Proc, m.target), o.Timeout); !gone(err) {
					state[m.dev] = err
				}
			}
			switch {
			case err == nil:
				r.Live++ // ours, another daemon's live mount, or a live one stacked on top
			case dead(err):
				todo = append(todo, m)
			case errors.Is(err, errNoAnswer):
				r.Unanswered = append(r.Unanswered, ns.report(m, err))
			case gone(err):
			default:
				r.Failed = append(r.Failed, ns.report(m, err))
			}
		}
		if len(todo) > 0 {
			fixed, failed := repair(o, ns, todo, liveDev)
			r.Fixed, r.Failed = append(r.Fixed, fixed...), append(r.Failed, failed...)
		}
	}
	return r, nil
}

// liveMount finds the topmost procfsd mount at the mountpoint in the caller's namespace and
// checks that it answers: its files are what dead mounts are replaced with.
func liveMount(o Options) (string, error) {
	b, err := os.ReadFile(filepath.Join(o.Proc, "self", "mountinfo"))
	if err != nil {
		return "", fmt.Errorf("read own mountinfo: %w", err)
	}
	ms, err := parseMountinfo(b)
	if err != nil {
		return "", err
	}
	var top *mount
	for i, m := range ms {
		if m.target == o.Mountpoint {
			top = &ms[i]
		}
	}
	if top == nil || top.fstype != FSType {
		return "", fmt.Errorf("find live mount: no %s mount at %s", FSType, o.Mountpoint)
	}
	dev, err := probe(o.Mountpoint, o.Timeout)
	if err != nil {
		return "", fmt.Errorf("check live mount: %w", err)
	}
	if dev != top.dev {
		return "", fmt.Errorf("check live mount: %s answers for device %s, mountinfo says %s", o.Mountpoint, dev, top.dev)
	}
	return dev, nil
}

// scan lists the mount namespaces other than the caller's that hold procfsd mounts, each with
// its topmost procfsd mounts, in PID order. A namespace whose mount table is over
// maxMountinfo is left alone and listed in unreadable (one Mount without a target each).
func scan(proc string) (nss []namespace, unreadable []Mount, err error) {
	self, err := os.Readlink(filepath.Join(proc, "self", "ns", "mnt"))
	if err != nil {
		return nil, nil, fmt.Errorf("read own mount namespace: %w", err)
	}
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	seen := map[string]bool{self: true}
	unreadable = []Mount{}
	for _, pid := range pids {
		dir := filepath.Join(proc, strconv.Itoa(pid))
		id, err := os.Readlink(filepath.Join(dir, "ns", "mnt"))
		if err != nil || seen[id] {
			continue // exited, or a kernel thread, or a namespace already read
		}
		b, err := readMountinfo(filepath.Join(dir, "mountinfo"))
		if errors.Is(err, statedir.ErrTooLarge) {
			seen[id] = true
			unreadable = append(unreadable, Mount{PID: pid, MountNS: id, Error: err.Error()})
			continue
		}
		if err != nil {
			continue // exited since
		}
		seen[id] = true
		ms, err := parseMountinfo(b)
		if err != nil {
			return nil, nil, fmt.Errorf("read mounts of pid %d: %w", pid, err)
		}
		if ms = topmost(ms, FSType); len(ms) > 0 {
			nss = append(nss, namespace{id: id, pid: pid, mounts: ms})
		}
	}
	return nss, unreadable, nil
}

// repair replaces the dead mounts todo of ns, then probes each again: fixed means it now
// answers from the live connection.
func repair(o Options, ns namespace, todo []mount, liveDev string) (fixed, failed []Mount) {
	failAll := func(err error) ([]Mount, []Mount) {
		for _, m := range todo {
			failed = append(failed, ns.report(m, err))
		}
		return nil, failed
	}
	nsFD, err := unix.Open(ns.file(o.Proc, "ns/mnt"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return failAll(fmt.Errorf("open mount namespace: %w", err))
	}
	defer unix.Close(nsFD)
	rootFD, err := unix.Open(ns.file(o.Proc, "root"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return failAll(fmt.Errorf("open root: %w", err))
	}
	defer unix.Close(rootFD)

	trees := make([]int, len(todo))
	errs := make([]error, len(todo))
	ways := make([]string, len(todo))
	for i, m := range todo {
		trees[i], errs[i] = clone(o.Mountpoint, m)
		if errs[i] == nil {
			defer unix.Close(trees[i])
		}
	}
	err = inNamespace(nsFD, rootFD, func() {
		for i, m := range todo {
			if errs[i] == nil {
				ways[i], errs[i] = replace(trees[i], m.target, !o.NoBeneath)
			}
		}
	})
	if err != nil {
		return failAll(err)
	}
	for i, m := range todo {
		if errs[i] == nil {
			dev, err := probe(ns.path(o.Proc, m.target), o.Timeout)
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("check after reattach: %w", err)
			case dev != liveDev:
				errs[i] = fmt.Errorf("check after reattach: %s answers for device %s, want %s", m.target, dev, liveDev)
			}
		}
		if errs[i] != nil {
			failed = append(failed, ns.report(m, errs[i]))
		} else {
			r := ns.report(m, nil)
			r.Way = ways[i]
			fixed = append(fixed, r)
		}
	}
	return fixed, failed
}

func (ns namespace) file(proc, name string) string {
	return filepath.Join(proc, strconv.Itoa(ns.pid), name)
}

// path is target seen from the host, through the process's root in its own mount namespace.
func (ns namespace) path(proc, target string) string {
	return filepath.Join(proc, strconv.Itoa(ns.pid), "root", target)
}

func (ns namespace) report(m mount, err error) Mount {
	r := Mount{PID: ns.pid, MountNS: ns.id, Target: m.target, File: m.root}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}
