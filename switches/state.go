package switches

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"procfsd/statedir"
)

// stateFileName is the switch state under --state-dir (docs/behaviour.md §3: it survives a
// restart).
const stateFileName = "switches.json"

// savedState is the state file's content. Version guards against reading a future format.
type savedState struct {
	Version       int     `json:"version"`
	StatsIsolated bool    `json:"stats_isolated"`
	Containers    []Entry `json:"containers"`
}

const stateVersion = 1

// errCorruptState marks a state file that exists but cannot be used.
var errCorruptState = errors.New("corrupt state file")

// loadState reads the state file; (nil, nil) when there is none yet.
func loadState(path string) (*savedState, error) {
	b, err := statedir.ReadFile(filepath.Dir(path), filepath.Base(path), statedir.MaxStateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorruptState, err)
	}
	return parseState(b)
}

// parseState decodes a state file strictly: unknown versions, missing IDs and unknown
// sources are errors, so a damaged file is set aside rather than half applied.
func parseState(b []byte) (*savedState, error) {
	var st savedState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: %w", errCorruptState, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", errCorruptState, st.Version, stateVersion)
	}
	for _, e := range st.Containers {
		if e.ID == "" || e.ID[0] != '/' {
			return nil, fmt.Errorf("%w: container ID %q is not a cgroup path", errCorruptState, e.ID)
		}
		switch e.Source {
		case SourceDefault, SourceAnnotation, SourceLabel, SourceWrite, SourceCtl:
		default:
			return nil, fmt.Errorf("%w: container %s: unknown source %q", errCorruptState, e.ID, e.Source)
		}
	}
	return &st, nil
}

// saveState writes the state file atomically: a temporary file in the same directory,
// synced, renamed over the old one, and the directory synced, so a crash leaves either the old
// or the new file, never a torn one.
func saveState(path string, st *savedState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	err = statedir.WriteFile(filepath.Dir(path), filepath.Base(path), 0o600, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// moveAside renames an unusable state file out of the way, keeping it for inspection.
func moveAside(path string, now time.Time) (string, error) {
	aside := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("move aside %s: %w", path, err)
	}
	return aside, nil
}
