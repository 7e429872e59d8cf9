package history

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"procfsd/statedir"
)

// historyName is the history file under --state-dir.
const historyName = "history.json"

// SaveEvery saves the history every loadavg interval until ctx ends, so that a crash
// loses at most one interval of it.
func (s *Store) SaveEvery(ctx context.Context) {
	if s.cfg.StateDir == "" {
		return
	}
	every(ctx, s.cfg.Interval, func(time.Time) { s.Save() })
}

// Save writes the history file atomically (a new file renamed over the old).
func (s *Store) Save() {
	if s.cfg.StateDir == "" {
		return
	}
	if err := s.writeHistory(); err != nil {
		s.log.Warn("save history", zap.Error(err))
	}
}

func (s *Store) writeHistory() error {
	if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	err := statedir.WriteFile(s.cfg.StateDir, historyName, 0o600, func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 64<<10)
		if err := encodeHistory(w, s.Export()); err != nil {
			return err
		}
		return w.Flush()
	})
	if err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	return nil
}

// encodeHistory writes h as JSON one container at a time, so that saving never holds the whole
// encoding: marshalling the whole history of many containers at once allocates megabytes every
// interval, and the garbage collector's goal, hence the daemon's RSS, grows with it.
func encodeHistory(w io.Writer, h History) error {
	saved, err := json.Marshal(h.Saved)
	if err != nil {
		return fmt.Errorf("encode history: %w", err)
	}
	if _, err := fmt.Fprintf(w, `{"saved":%s,"containers":[`, saved); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	for i, ch := range h.Containers {
		if i > 0 {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		if err := enc.Encode(ch); err != nil {
			return fmt.Errorf("encode history of %s: %w", ch.Container.ID, err)
		}
	}
	_, err = io.WriteString(w, "]}\n")
	return err
}

// Load imports the history saved under --state-dir, if there is one. A restart without a handover
// (crash, plain restart) then continues the containers' counters and averages. The history file and
// the clock journal are judged each on its own: an unusable file (an error, returned after the
// import) still leaves the journal's clocks, so /proc/stat does not go back (docs/behaviour.md
// §2.3) because the other source was damaged; a damaged journal slot is skipped by its checksum and
// leaves the file's clock.
func (s *Store) Load() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	h, err := s.readHistory()
	journalled := 0
	if j := s.clockJournal(); j != nil {
		j.prune(func(ch ContainerHistory) bool { return !s.cgroups.Exists(&ch.Container) })
		clocks := j.all()
		journalled = len(clocks)
		h.Containers = newerClocks(h.Containers, clocks)
	}
	s.Import(h)
	if err != nil {
		return fmt.Errorf("%w; load averages start afresh, /proc/stat continues from the clock journal's %d containers",
			err, journalled)
	}
	return nil
}

// readHistory reads and decodes the history file: an empty history when there is none, and
// with an error when it cannot be used, whole (it is replaced whole, so a damaged one is not
// trusted in part).
func (s *Store) readHistory() (History, error) {
	b, err := statedir.ReadFile(s.cfg.StateDir, historyName, statedir.MaxHistoryFile)
	if errors.Is(err, os.ErrNotExist) {
		return History{}, nil
	}
	if err != nil {
		return History{}, fmt.Errorf("history file unusable: %w", err)
	}
	var h History
	if len(b) > 0 {
		if err := json.Unmarshal(b, &h); err != nil {
			return History{}, fmt.Errorf("history file unusable: decode %s: %w", filepath.Join(s.cfg.StateDir, historyName), err)
		}
	}
	return h, nil
}

// newerClocks merges the clock journal's entries into the saved history: a container's clock
// is taken from whichever has seen the later uptime. Entries of two inits under one cgroup path
// are two containers (a restart between two saves of the history): the one read last is kept,
// whole, since the other's clock and averages are not the new container's.
func newerClocks(saved, journal []ContainerHistory) []ContainerHistory {
	at := map[string]int{}
	for i, ch := range saved {
		at[ch.Container.ID] = i
	}
	for _, e := range journal {
		i, ok := at[e.Container.ID]
		switch {
		case !ok:
			at[e.Container.ID] = len(saved)
			saved = append(saved, e)
		case !sameContainer(&saved[i].Container, &e.Container):
			if e.LastRead.After(saved[i].LastRead) {
				saved[i] = e
			}
		case e.Clock.Uptime > saved[i].Clock.Uptime:
			saved[i].Clock = e.Clock
		}
	}
	return saved
}

// OpenClockJournal opens the clock journal under --state-dir, if it is not open yet, so that
// every render from now on journals its container's clock.
func (s *Store) OpenClockJournal() { s.clockJournal() }

// clockJournal opens the clock journal under --state-dir once; nil without one.
func (s *Store) clockJournal() *clockJournal {
	if j := s.states.clocks.Load(); j != nil || s.cfg.StateDir == "" {
		return j
	}
	j, err := openClockJournal(s.cfg.StateDir)
	if err != nil {
		s.log.Warn("no clock journal: a crash may resume /proc/stat from the last saved history", zap.Error(err))
		return nil
	}
	if !s.states.clocks.CompareAndSwap(nil, j) {
		j.close()
	}
	return s.states.clocks.Load()
}
