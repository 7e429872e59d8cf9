package fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"procfsd/cgroupview"
)

// initSwitches loads the persisted switches from --state-dir and picks the mode: a native
// kernel when one is detected (SPEC §3). A state file that cannot be used is moved aside with
// one log line and the defaults apply; it never stops the daemon (issue 4).
func (s *Server) initSwitches() error {
	if s.cfg.Kernel == nil && DetectNative(s.cfg.ProcRoot) {
		s.cfg.Kernel = &TKernel{ProcRoot: s.cfg.ProcRoot, CgroupRoot: s.cfg.CgroupRoot, Helper: s.cfg.NativeHelper}
	}
	if s.cfg.Kernel != nil {
		s.log.Info("native kernel switches found; hooks will not bind-mount",
			zap.String("proc_root", s.cfg.ProcRoot))
	}
	if s.cfg.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	// The socket and state are root's only (issue 4); tighten a directory made by someone else.
	if err := os.Chmod(s.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	path := s.statePath()
	st, err := loadState(path)
	if err != nil {
		aside, mvErr := moveAside(path, time.Now())
		s.log.Error("state file unusable; moved aside, starting from defaults",
			zap.String("file", path), zap.String("moved_to", aside), zap.NamedError("move_error", mvErr), zap.Error(err))
		return nil
	}
	if st == nil {
		return nil
	}
	if s.cfg.Kernel == nil {
		// The persisted host switch wins over --stats-isolated: a restart keeps what was set.
		s.hostIsolated.Store(st.StatsIsolated)
	}
	for i := range st.Containers {
		e := st.Containers[i]
		e.Mode = ""
		if id, err := canonicalContainer(e.ID); err != nil || id != e.ID {
			// Saved for an alias of a cgroup path by an older procfsd: it never applied.
			s.log.Info("switch saved for an alias of a cgroup path dropped", zap.String("container", e.ID))
			continue
		}
		if !s.cgroups.Exists(e.container()) {
			s.log.Info("container gone while stopped; switch dropped", zap.String("container", e.ID))
			continue
		}
		s.switches.add(&e)
	}
	s.saved.Store(s.switches.version.Load())
	s.log.Info("switch state loaded", zap.String("file", path), zap.Bool("stats_isolated", st.StatsIsolated),
		zap.Int("containers", len(st.Containers)))
	return nil
}

func (s *Server) statePath() string { return filepath.Join(s.cfg.StateDir, stateFileName) }

// save writes the state file if anything changed since the last save.
func (s *Server) save() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	v := s.switches.version.Load()
	if v == s.saved.Load() {
		return nil
	}
	var entries []Entry
	for _, e := range s.switches.list() {
		e.Mode = ""
		entries = append(entries, e)
	}
	st := &savedState{Version: stateVersion, StatsIsolated: s.hostIsolated.Load(), Containers: entries}
	if err := saveState(s.statePath(), st); err != nil {
		return err
	}
	s.saved.Store(v)
	return nil
}

// changed saves now; a failure is logged, since the change itself has been applied.
func (s *Server) changed() {
	if err := s.save(); err != nil {
		s.log.Error("save switch state", zap.Error(err))
	}
}

// hostSwitch returns stats_isolated: the kernel's in native mode, else procfsd's.
func (s *Server) hostSwitch() (bool, error) {
	if s.cfg.Kernel != nil {
		return s.cfg.Kernel.HostIsolated()
	}
	return s.hostIsolated.Load(), nil
}

// setHost changes stats_isolated and persists it.
func (s *Server) setHost(on bool, by string) error {
	if s.cfg.Kernel != nil {
		if err := s.cfg.Kernel.SetHost(on); err != nil {
			return err
		}
	}
	s.hostIsolated.Store(on)
	s.switches.version.Add(1)
	s.changed()
	s.log.Info("host switch set", zap.Bool("stats_isolated", on), zap.String("by", by))
	return nil
}

// setContainer changes a container's switch and persists it. In native mode the kernel's
// flag is changed first, by the helper.
func (s *Server) setContainer(c *cgroupview.Container, on bool, source string) (*Entry, error) {
	if s.cfg.Kernel != nil {
		if err := s.cfg.Kernel.SetContainer(c.Paths, on); err != nil {
			return nil, err
		}
	}
	e := s.switches.set(c, on, source)
	s.changed()
	s.log.Info("container switch set", zap.String("container", c.ID), zap.String("name", e.Name),
		zap.Bool("container_stats_isolated", on), zap.String("source", source))
	return e, nil
}

// containerIsolated is the read path's view of a container's switch. The first sight of a
// container records it (so `ctl list` shows every container seen) and, for a Docker container,
// reads its opt-out label from the engine's metadata (SPEC §3).
func (s *Server) containerIsolated(c *cgroupview.Container) bool {
	if e := s.switches.get(c.ID); e != nil {
		return e.Isolated
	}
	e := &Entry{ID: c.ID, Cgroup: c.Paths, Isolated: true, Source: SourceDefault}
	if id, ok := dockerID(c.ID); ok {
		s.mayBlock()
		on, set, err := dockerSwitch(s.dockerRoot(), id)
		switch {
		case errors.Is(err, errNotDocker):
		case err != nil:
			s.log.Warn("read Docker metadata; default switch", zap.String("container", c.ID), zap.Error(err))
		default:
			e.Name = id
			if set {
				e.Isolated, e.Source = on, SourceLabel
			}
		}
	}
	e = s.switches.add(e)
	if e.Source == SourceLabel {
		s.log.Info("container switch from Docker label", zap.String("container", c.ID),
			zap.Bool("container_stats_isolated", e.Isolated))
	}
	s.kickSaver()
	return e.Isolated
}

func (s *Server) dockerRoot() string {
	if s.cfg.DockerRoot == "" {
		return "/var/lib/docker"
	}
	return s.cfg.DockerRoot
}

// kickSaver asks the saver to write the state soon; it never blocks a FUSE request.
func (s *Server) kickSaver() {
	select {
	case s.saveKick <- struct{}{}:
	default:
	}
}

// mode is how entry e's readers are served.
func (s *Server) mode(e *Entry, host bool) string {
	switch {
	case s.cfg.Kernel != nil:
		return ModeNative
	case host && e.Isolated:
		return ModeVirtualized
	}
	return ModePassthrough
}

// sweepSwitches drops the switches of containers whose cgroup has gone (SPEC §3).
func (s *Server) sweepSwitches() {
	for _, e := range s.switches.list() {
		if e.Cgroup != nil && !s.cgroups.Exists(e.container()) {
			s.switches.drop(e.ID)
			s.log.Info("container gone; switch dropped", zap.String("container", e.ID))
		}
	}
	s.changed()
}

// runSwitches saves state changes made on the read path and sweeps gone containers, until
// ctx ends. It does not save on the way out: every deliberate change was saved when it was
// made, what the read path adds (first sights, Docker labels) is found again by the next
// process, and a successor that adopted the mount (SPEC §5) may already own the file.
func (s *Server) runSwitches(ctx context.Context) {
	t := time.NewTicker(max(s.cfg.LoadavgInterval, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.saveKick:
			s.changed()
		case <-t.C:
			s.sweepSwitches()
		}
	}
}
