package switches

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"procfsd/cgroupview"
)

// Board holds both switches of docs/behaviour.md §3: the host's stats_isolated and every
// container's container_stats_isolated, where they come from (control files, ctl, the OCI hook,
// Docker labels), the state file that keeps them across restarts, and the native kernel that
// applies them itself when there is one. It is safe for concurrent use; the read path (Isolated)
// takes no lock.
type Board struct {
	cfg     Config
	log     *zap.Logger
	cgroups *cgroupview.Reader
	table   table
	// hostIsolated is the host switch stats_isolated (docs/behaviour.md §3).
	hostIsolated atomic.Bool

	saveMu   sync.Mutex    // serialises writes of the state file
	saved    atomic.Uint64 // table.version at the last save
	saveKick chan struct{} // wakes the saver (Run)
}

// Config is what the board needs of `procfsd serve`'s configuration.
type Config struct {
	ProcRoot   string // host /proc
	CgroupRoot string // host /sys/fs/cgroup
	StateDir   string // where switches.json is kept; "" keeps nothing
	// DockerRoot is Docker's data root, where opt-out labels are read (docs/behaviour.md §3,
	// --docker-root).
	DockerRoot string
	// StatsIsolated is the initial host switch (docs/behaviour.md §3).
	StatsIsolated bool
	// Kernel, when set, drives a kernel that virtualizes /proc itself; Open sets it when it
	// detects one under ProcRoot. NativeHelper is the command that runs RunNativeHelper.
	Kernel       Kernel
	NativeHelper []string
	// SweepEvery is how often the containers of gone cgroups are dropped (at least a second).
	SweepEvery time.Duration
	Cgroups    *cgroupview.Reader
	Logger     *zap.Logger
	// MayBlock, if set, is called before the read path waits for I/O (a Docker container's
	// metadata), so that the FUSE loops can read meanwhile.
	MayBlock func()
}

// Open makes the board of cfg: it loads the persisted switches from --state-dir and picks the
// mode, a native kernel when one is detected (docs/behaviour.md §3).
func Open(cfg Config) (*Board, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MayBlock == nil {
		cfg.MayBlock = func() {}
	}
	b := &Board{cfg: cfg, log: cfg.Logger, cgroups: cfg.Cgroups, saveKick: make(chan struct{}, 1)}
	b.hostIsolated.Store(cfg.StatsIsolated)
	if err := b.load(); err != nil {
		return nil, err
	}
	return b, nil
}

// load loads the persisted switches from --state-dir and picks the mode: a native kernel when one
// is detected (docs/behaviour.md §3). A state file that cannot be used is moved aside with one log
// line and the defaults apply; it never stops the daemon (docs/behaviour.md §3).
func (b *Board) load() error {
	if b.cfg.Kernel == nil && DetectNative(b.cfg.ProcRoot) {
		b.cfg.Kernel = &TKernel{ProcRoot: b.cfg.ProcRoot, CgroupRoot: b.cfg.CgroupRoot, Helper: b.cfg.NativeHelper}
	}
	if b.cfg.Kernel != nil {
		b.log.Info("native kernel switches found; hooks will not bind-mount",
			zap.String("proc_root", b.cfg.ProcRoot))
	}
	if b.cfg.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(b.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	// The socket and state are root's only (docs/behaviour.md §5.4); tighten a directory made by
	// someone else.
	if err := os.Chmod(b.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	path := b.statePath()
	st, err := loadState(path)
	if err != nil {
		aside, mvErr := moveAside(path, time.Now())
		b.log.Error("state file unusable; moved aside, starting from defaults",
			zap.String("file", path), zap.String("moved_to", aside), zap.NamedError("move_error", mvErr), zap.Error(err))
		return nil
	}
	if st == nil {
		return nil
	}
	if b.cfg.Kernel == nil {
		// The persisted host switch wins over --stats-isolated: a restart keeps what was set.
		b.hostIsolated.Store(st.StatsIsolated)
	}
	for i := range st.Containers {
		e := st.Containers[i]
		e.Mode = ""
		if id, err := Canonical(e.ID); err != nil || id != e.ID {
			// Saved for an alias of a cgroup path by an older procfsd: it never applied.
			b.log.Info("switch saved for an alias of a cgroup path dropped", zap.String("container", e.ID))
			continue
		}
		if !b.cgroups.Exists(e.Container()) {
			b.log.Info("container gone while stopped; switch dropped", zap.String("container", e.ID))
			continue
		}
		b.table.add(&e)
	}
	b.saved.Store(b.table.version.Load())
	b.log.Info("switch state loaded", zap.String("file", path), zap.Bool("stats_isolated", st.StatsIsolated),
		zap.Int("containers", len(st.Containers)))
	return nil
}

func (b *Board) statePath() string { return filepath.Join(b.cfg.StateDir, stateFileName) }

// save writes the state file if anything changed since the last save.
func (b *Board) save() error {
	if b.cfg.StateDir == "" {
		return nil
	}
	b.saveMu.Lock()
	defer b.saveMu.Unlock()
	v := b.table.version.Load()
	if v == b.saved.Load() {
		return nil
	}
	var entries []Entry
	for _, e := range b.table.list() {
		e.Mode = ""
		entries = append(entries, e)
	}
	st := &savedState{Version: stateVersion, StatsIsolated: b.hostIsolated.Load(), Containers: entries}
	if err := saveState(b.statePath(), st); err != nil {
		return err
	}
	b.saved.Store(v)
	return nil
}

// changed saves now; a failure is logged, since the change itself has been applied.
func (b *Board) changed() {
	if err := b.save(); err != nil {
		b.log.Error("save switch state", zap.Error(err))
	}
}

// Host returns stats_isolated: the kernel's in native mode, else procfsd'b.
func (b *Board) Host() (bool, error) {
	if b.cfg.Kernel != nil {
		return b.cfg.Kernel.HostIsolated()
	}
	return b.hostIsolated.Load(), nil
}

// SetHost changes stats_isolated and persists it.
func (b *Board) SetHost(on bool, by string) error {
	if b.cfg.Kernel != nil {
		if err := b.cfg.Kernel.SetHost(on); err != nil {
			return err
		}
	}
	b.hostIsolated.Store(on)
	b.table.version.Add(1)
	b.changed()
	b.log.Info("host switch set", zap.Bool("stats_isolated", on), zap.String("by", by))
	return nil
}

// SetContainer changes a container's switch and persists it. In native mode the kernel's
// flag is changed first, by the helper.
func (b *Board) SetContainer(c *cgroupview.Container, on bool, source string) (*Entry, error) {
	if b.cfg.Kernel != nil {
		if err := b.cfg.Kernel.SetContainer(c.Paths, on); err != nil {
			return nil, err
		}
	}
	e := b.table.set(c, on, source)
	b.changed()
	b.log.Info("container switch set", zap.String("container", c.ID), zap.String("name", e.Name),
		zap.Bool("container_stats_isolated", on), zap.String("source", source))
	return e, nil
}

// ContainerIsolated is the read path's view of a container's switch. The first sight of a
// container records it (so `ctl list` shows every container seen) and, for a Docker container,
// reads its opt-out label from the engine's metadata (docs/behaviour.md §3).
func (b *Board) ContainerIsolated(c *cgroupview.Container) bool {
	if e := b.table.get(c.ID); e != nil {
		return e.Isolated
	}
	e := &Entry{ID: c.ID, Cgroup: c.Paths, Isolated: true, Source: SourceDefault}
	if id, ok := dockerID(c.ID); ok {
		b.cfg.MayBlock()
		on, set, err := dockerSwitch(b.dockerRoot(), id)
		switch {
		case errors.Is(err, errNotDocker):
		case err != nil:
			b.log.Warn("read Docker metadata; default switch", zap.String("container", c.ID), zap.Error(err))
		default:
			e.Name = id
			if set {
				e.Isolated, e.Source = on, SourceLabel
			}
		}
	}
	e = b.table.add(e)
	if e.Source == SourceLabel {
		b.log.Info("container switch from Docker label", zap.String("container", c.ID),
			zap.Bool("container_stats_isolated", e.Isolated))
	}
	b.kickSaver()
	return e.Isolated
}

func (b *Board) dockerRoot() string {
	if b.cfg.DockerRoot == "" {
		return "/var/lib/docker"
	}
	return b.cfg.DockerRoot
}

// kickSaver asks the saver to write the state soon; it never blocks a FUSE request.
func (b *Board) kickSaver() {
	select {
	case b.saveKick <- struct{}{}:
	default:
	}
}

// Mode is how entry e's readers are served.
func (b *Board) Mode(e *Entry, host bool) string {
	switch {
	case b.cfg.Kernel != nil:
		return ModeNative
	case host && e.Isolated:
		return ModeVirtualized
	}
	return ModePassthrough
}

// sweep drops the switches of containers whose cgroup has gone (docs/behaviour.md §3).
func (b *Board) sweep() {
	for _, e := range b.table.list() {
		if e.Cgroup != nil && !b.cgroups.Exists(e.Container()) {
			b.table.drop(e.ID)
			b.log.Info("container gone; switch dropped", zap.String("container", e.ID))
		}
	}
	b.changed()
}

// Run saves state changes made on the read path and sweeps gone containers, until
// ctx ends. It does not save on the way out: every deliberate change was saved when it was
// made, what the read path adds (first sights, Docker labels) is found again by the next
// process, and a successor that adopted the mount (docs/behaviour.md §5) may already own the file.
func (b *Board) Run(ctx context.Context) {
	t := time.NewTicker(max(b.cfg.SweepEvery, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.saveKick:
			b.changed()
		case <-t.C:
			b.sweep()
		}
	}
}

// Isolated reports whether c sees its own numbers: the host switch and its own (docs/behaviour.md
// §3). On a native kernel procfsd never virtualizes: the kernel does.
func (b *Board) Isolated(c *cgroupview.Container) bool {
	return b.cfg.Kernel == nil && b.hostIsolated.Load() && b.ContainerIsolated(c)
}

// Kernel is the native kernel the switches drive, nil when procfsd virtualizes.
func (b *Board) Kernel() Kernel { return b.cfg.Kernel }

// Len is the number of containers seen.
func (b *Board) Len() int { return b.table.len() }

// Get returns the entry of container id, nil when the container was never seen.
func (b *Board) Get(id string) *Entry { return b.table.get(id) }

// List returns every entry, sorted by ID.
func (b *Board) List() []Entry { return b.table.list() }

// Find returns the entries a ctl argument names (table.find).
func (b *Board) Find(arg string) []Entry { return b.table.find(arg) }

// Register replaces the entry of e.ID, as the OCI hook announces a container, and saves.
func (b *Board) Register(e *Entry) {
	b.table.put(e)
	b.changed()
}

// Drop forgets a container whose cgroup has gone (docs/behaviour.md §3); the saver writes it later.
func (b *Board) Drop(id string) { b.table.drop(id) }
