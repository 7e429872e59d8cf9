package switches

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"procfsd/statedir"
)

// TestBoundedStateFiles: the files other programs can damage fail with a clear error instead
// of being read whole: a config.v2.json that is a device, a FIFO or over its bound is not
// Docker metadata (the default switch applies); a switches.json over its bound is a corrupt
// state file (set aside, defaults).
func TestBoundedStateFiles(t *testing.T) {
	root := t.TempDir()
	id := strings.Repeat("ab", 32)
	dir := filepath.Join(root, "containers", id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.v2.json")
	label := `{"ID":"` + id + `","Config":{"Labels":{"` + OptOutKey + `":"0"}}}`
	for _, tc := range []struct {
		name string
		make func() error
	}{
		{"symlink to /dev/zero", func() error { return os.Symlink("/dev/zero", cfg) }},
		{"FIFO", func() error { return syscall.Mkfifo(cfg, 0o600) }},
		// Valid JSON padded past the bound: read whole it would opt the container out.
		{"over the bound", func() error {
			return os.WriteFile(cfg, append(bytes.Repeat([]byte{' '}, statedir.MaxDockerConfig), label...), 0o600)
		}},
	} {
		os.Remove(cfg)
		if err := tc.make(); err != nil {
			t.Fatal(err)
		}
		isolated, set, err := dockerSwitch(root, id)
		if err == nil || errors.Is(err, errNotDocker) || !isolated || set {
			t.Errorf("config.v2.json %s: isolated %v set %v err %v, want an error and the default", tc.name, isolated, set, err)
		}
	}
	os.Remove(cfg)
	if err := os.WriteFile(cfg, []byte(label), 0o600); err != nil {
		t.Fatal(err)
	}
	if isolated, set, err := dockerSwitch(root, id); err != nil || isolated || !set {
		t.Errorf("a good config.v2.json: isolated %v set %v err %v, want the label's opt-out", isolated, set, err)
	}

	state := filepath.Join(t.TempDir(), stateFileName)
	good := `{"version":1,"stats_isolated":false,"containers":[]}`
	if err := os.WriteFile(state, append(bytes.Repeat([]byte{' '}, statedir.MaxStateFile), good...), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := loadState(state); !errors.Is(err, errCorruptState) || !errors.Is(err, statedir.ErrTooLarge) {
		t.Errorf("switches.json over the bound: %+v, %v; want errCorruptState and statedir.ErrTooLarge", st, err)
	}
}
