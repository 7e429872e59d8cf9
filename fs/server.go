package fs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"procfsd/cgroupview"
	"procfsd/control"
	"procfsd/ctlapi"
	"procfsd/fuseconn"
	"procfsd/history"
	"procfsd/metrics"
	"procfsd/switches"
)

// Config is what `procfsd serve` passes in (docs/behaviour.md §1.1).
type Config struct {
	Mountpoint string
	ProcRoot   string // host /proc
	CgroupRoot string // host /sys/fs/cgroup
	// StatsIsolated is the initial host switch (docs/behaviour.md §3).
	StatsIsolated bool
	// QuotaView cuts the CPU count to the CFS quota (--cpu-view=quota, docs/behaviour.md §2.3).
	QuotaView       bool
	LoadavgInterval time.Duration
	// LoadavgBudget is the share of one CPU the load sampler may use (--loadavg-budget); 0 or
	// less means history.DefaultLoadavgBudget.
	LoadavgBudget float64
	// BusyPoll is how long a request loop polls for a request it expects before it sleeps; 0
	// never polls (fuseconn.DefaultBusyPoll).
	BusyPoll time.Duration
	StateDir string
	// DockerRoot is Docker's data root, where opt-out labels are read (docs/behaviour.md §3,
	// --docker-root).
	DockerRoot string
	// Kernel, when set, drives a kernel that virtualizes /proc itself; New sets it when it detects one
	// under ProcRoot (docs/behaviour.md §3 native kernels). NativeHelper is the command that runs
	// RunNativeHelper, e.g. {"/usr/bin/procfsd", "native-helper"}.
	Kernel       switches.Kernel
	NativeHelper []string
	Logger       *zap.Logger
	// OnReady, if set, is called once the mount answers requests (systemd READY=1).
	OnReady func()
	// RequestTimeoutWarning, if set, is reported by status: the kernel's FUSE request timeout
	// is shorter than a handover or restart can pause requests (docs/restarts.md,
	// "FUSE request timeouts").
	RequestTimeoutWarning string
	// Metrics, if set, receives the counters (docs/behaviour.md §1.4); New makes a set
	// otherwise, which `procfsd status` still shows.
	Metrics *metrics.Set
}

// Server answers the FUSE requests. It is safe for concurrent use by many request loops.
type Server struct {
	cfg     Config
	log     *zap.Logger
	cgroups *cgroupview.Reader
	sysRoot string // host /sys, beside --proc-root: the host's cpu/online lives there
	tree    *tree
	fs      *rawFS

	handles  handleTable
	history  *history.Store
	switches *switches.Board
	pageSize uint64
	// snaps counts the snapshots open files keep (readAt) against their budgets (snapshot.go).
	snaps snapTable
	// cache holds host files and container views for a few tens of ms (cache.go).
	cache renderCache
	// loops is the running request loops, nil outside Serve (serve.go).
	loops atomic.Pointer[fuseconn.Loops]
	// ctl answers the control socket (package control).
	ctl *control.Server
	// counts holds each file's counters by node ID, resolved once so that a read only adds to
	// atomics (docs/behaviour.md §5.2).
	counts []*metrics.File
}

// New prepares a server over the host data named in cfg. It reads, but does not mount.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.LoadavgInterval <= 0 {
		cfg.LoadavgInterval = 5 * time.Second
	}
	if cfg.LoadavgBudget <= 0 {
		cfg.LoadavgBudget = history.DefaultLoadavgBudget
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New(metrics.SharedTree)
	}
	reader, err := cgroupview.New(cfg.CgroupRoot, cfg.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("open cgroups under %s: %w", cfg.CgroupRoot, err)
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		cgroups:  reader,
		sysRoot:  filepath.Join(cfg.ProcRoot, "..", "sys"),
		pageSize: uint64(os.Getpagesize()),
	}
	_, psiErr := os.Stat(filepath.Join(cfg.ProcRoot, "pressure"))
	s.tree = newTree(psiErr == nil)
	s.fs = &rawFS{RawFileSystem: defaultRaw(), srv: s, tree: s.tree, mtime: time.Now()}
	s.history = history.New(history.Config{ProcRoot: cfg.ProcRoot, StateDir: cfg.StateDir,
		Interval: cfg.LoadavgInterval, Budget: cfg.LoadavgBudget, Cgroups: reader, Logger: cfg.Logger,
		// A container gone from the cgroups is gone from `ctl list` too.
		Gone: func(id string) { s.switches.Drop(id) },
		// A new container's first read must not be served the old one's thread counts, up to
		// tasksTTL old: a loadavg started from them starts from the old count.
		Replaced: func(id string) { s.cache.views.Delete(id) }})
	s.switches, err = switches.Open(switches.Config{ProcRoot: cfg.ProcRoot, CgroupRoot: cfg.CgroupRoot,
		StateDir: cfg.StateDir, DockerRoot: cfg.DockerRoot, StatsIsolated: cfg.StatsIsolated,
		Kernel: cfg.Kernel, NativeHelper: cfg.NativeHelper, SweepEvery: cfg.LoadavgInterval,
		Cgroups: reader, Logger: cfg.Logger, MayBlock: s.mayBlock})
	if err != nil {
		return nil, err
	}
	s.ctl = control.New(control.Config{StateDir: cfg.StateDir, Mountpoint: cfg.Mountpoint,
		RequestTimeoutWarning: cfg.RequestTimeoutWarning, Switches: s.switches, Cgroups: reader,
		Sampler: s.samplerStatus, Metrics: cfg.Metrics, Logger: cfg.Logger})
	s.counts = fileCounters(cfg.Metrics)
	cfg.Metrics.SetSources(metrics.Sources{
		Containers:   s.switches.Len,
		ResolveCache: reader.CacheCounts,
		SamplerCPU:   s.history.SamplerCPU,
		SamplerShare: func() float64 { share, _ := s.history.SamplerStats(); return share },
	})
	return s, nil
}

// LoadHistory imports the history saved under --state-dir, if there is one (history.Store.Load).
func (s *Server) LoadHistory() error { return s.history.Load() }

// samplerStatus is the load sampler's part of `procfsd status`.
func (s *Server) samplerStatus() *ctlapi.SamplerStatus {
	share, less := s.history.SamplerStats()
	st := &ctlapi.SamplerStatus{
		IntervalSeconds: s.cfg.LoadavgInterval.Seconds(),
		BudgetPercent:   100 * s.cfg.LoadavgBudget,
		CostPercent:     100 * share,
		SampledLess:     []ctlapi.SampledLess{},
	}
	for _, d := range less {
		st.SampledLess = append(st.SampledLess, ctlapi.SampledLess{Container: d.Container, Every: d.Every, CountCostMS: float64(d.CountCost) / 1e6})
	}
	return st
}

// open resolves the reader's container once and issues a handle for it (docs/behaviour.md §2.1).
func (s *Server) open(n *node, pid int, uid uint32) uint64 {
	return s.handles.add(s.newHandle(n, pid, uid))
}

func (s *Server) newHandle(n *node, pid int, uid uint32) *handle {
	h := &handle{node: n, pid: pid, uid: uid}
	if n.kind == kindVirtual {
		h.container = s.resolve(pid)
	}
	return h
}

// resolve finds the reader's container, or nil for the host view. PID 0 marks a request the
// kernel made itself, which must not be resolved; an exited reader gets the host view.
func (s *Server) resolve(pid int) *cgroupview.Container {
	if pid <= 0 {
		return nil
	}
	if c, ok := s.cgroups.Resolved(pid); ok {
		return c
	}
	s.mayBlock()
	c, err := s.cgroups.ResolveUncached(pid)
	if err != nil {
		if errors.Is(err, cgroupview.ErrProcessGone) {
			s.log.Debug("reader exited before it was resolved; host view", zap.Int("pid", pid))
		} else {
			s.log.Debug("resolve reader; host view", zap.Int("pid", pid), zap.Error(err))
		}
		return nil
	}
	return c
}

// readAt returns at most size bytes of the handle's content from off. Offset 0 renders afresh;
// other offsets continue the snapshot so a reader with a small buffer never sees a torn file
// (docs/behaviour.md §1.2), as long as the snapshots of its container's open files fit their budget
// (snapshot.go).
func (s *Server) readAt(h *handle, off int64, size int) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var data []byte
	if h.snap != nil {
		data = h.snap.data
	}
	if data == nil && off > 0 && off >= int64(h.size) && h.size > 0 {
		return nil, nil // past the end of a snapshot that was not kept
	}
	if off == 0 || data == nil {
		fresh, err := s.content(h)
		if err != nil {
			return nil, err
		}
		data = s.keep(h, fresh, s.snaps.budgetsFor(off+int64(size) >= int64(len(fresh))))
	}
	if off >= int64(len(data)) {
		return nil, nil
	}
	out := data[off:]
	return out[:min(size, len(out))], nil
}

// fileCounters resolves each file's counters once, by node ID; directories have none. A file
// is named by its path without "proc/": "meminfo", "pressure/cpu",
// "sys/devices/system/cpu/online".
func fileCounters(m *metrics.Set) []*metrics.File {
	var maxID uint64
	for i := range table {
		maxID = max(maxID, table[i].id)
	}
	counts := make([]*metrics.File, maxID+1)
	for i := range table {
		if n := &table[i]; n.kind != kindDir {
			counts[n.id] = m.File(strings.TrimPrefix(n.path, "proc/"))
		}
	}
	return counts
}

// content is the whole file for this handle's reader, counted and timed.
func (s *Server) content(h *handle) ([]byte, error) {
	f := s.counts[h.node.id]
	if f == nil { // a directory: a READ the kernel never sends, answered with an error
		return s.compute(h)
	}
	start := time.Now()
	data, err := s.compute(h)
	f.Read(time.Since(start))
	return data, err
}

func (s *Server) compute(h *handle) ([]byte, error) {
	if h.node.kind == kindControl {
		return s.readControl(h)
	}
	c := h.container
	if c == nil || c.Root || !s.switches.Isolated(c) {
		return s.hostFile(h.node)
	}
	st := s.history.Get(c)
	var buf bytes.Buffer
	if err := s.renderSafely(h.node, c, st, &buf); err != nil {
		st.LogOnce(s.log, h.node.path, c, err)
		s.counts[h.node.id].Fallback() // a virtual file: never a directory
		return s.hostFile(h.node)
	}
	return buf.Bytes(), nil
}

// renderSafely turns a renderer's panic into an error, so one bad cgroup file answers the
// host file instead of taking the daemon down (docs/behaviour.md §4).
func (s *Server) renderSafely(n *node, c *cgroupview.Container, st *history.State, w *bytes.Buffer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			w.Reset()
			err = fmt.Errorf("render %s: panic: %v", n.path, r)
		}
	}()
	return n.render(&renderCtx{srv: s, c: c, st: st}, w)
}

// hostFile reads the host's own file for a node.
func (s *Server) hostFile(n *node) ([]byte, error) {
	data, err := os.ReadFile(s.hostPath(n))
	if err != nil {
		return nil, fmt.Errorf("read host file: %w", err)
	}
	return data, nil
}

// hostPath maps "proc/x" to --proc-root/x and "sys/x" to the /sys beside it.
func (s *Server) hostPath(n *node) string {
	if rest, ok := strings.CutPrefix(n.path, "proc/"); ok {
		return filepath.Join(s.cfg.ProcRoot, rest)
	}
	return filepath.Join(s.sysRoot, strings.TrimPrefix(n.path, "sys/"))
}
