package history

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"procfsd/cgroupview"
	"procfsd/proc"
	"procfsd/statedir"
)

// TestLoadHistoryJudgesSourcesApart: the history file and the clock journal are restored each
// on its own. A corrupt, oversized or non-regular history file leaves the journal's clock (the
// restart shows what readers last saw, not a fresh model behind it), with an error that says so;
// a journal slot whose copies are both damaged leaves the file's clock.
func TestLoadHistoryJudgesSourcesApart(t *testing.T) {
	// Paths name the root cgroups, which exist, so that the journal's prune keeps the entry.
	c := &cgroupview.Container{ID: "/ctr", Paths: map[string]string{"": "/", "memory": "/"}, InitPID: 42, InitStart: 1000}
	next := proc.CPUSample{Uptime: 31, CPUs: 1, UserTicks: 2005, SystemTicks: 300}

	// running is the server that crashed: its journal has the clock as of its last render, the
	// history file (saved earlier) an older one. The restarted server must continue from the
	// journal, exactly as running would have.
	running := func(t *testing.T, dir string) (*State, []byte) {
		t.Helper()
		a, err := newStore(testConfig{ProcRoot: "/proc", CgroupRoot: "/sys/fs/cgroup", LoadavgInterval: time.Second, StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		a.clockJournal()
		t.Cleanup(func() { a.states.clocks.Load().close() })
		st := a.states.get(c)
		// Two CPUs, then one: a fresh model would show the aggregate idle of one CPU only.
		st.AdvanceClock(proc.CPUSample{Uptime: 10, CPUs: 2, UserTicks: 1000, SystemTicks: 200})
		var saved bytes.Buffer
		if err := encodeHistory(&saved, a.Export()); err != nil {
			t.Fatal(err)
		}
		st.AdvanceClock(proc.CPUSample{Uptime: 30, CPUs: 1, UserTicks: 2000, SystemTicks: 300})
		return st, saved.Bytes()
	}
	restart := func(t *testing.T, dir string) (*Store, error) {
		t.Helper()
		b, err := newStore(testConfig{ProcRoot: "/proc", CgroupRoot: "/sys/fs/cgroup", LoadavgInterval: time.Second, StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		err = b.Load()
		t.Cleanup(func() { b.states.clocks.Load().close() })
		return b, err
	}
	historyFile := func(dir string) string { return filepath.Join(dir, historyName) }

	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, path string)
		wantErr string
	}{
		{"corrupt", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(`{"saved":"2026-01-01T00:00:00Z","containers":[{"container":`), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "decode"},
		{"wrong types", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(`{"containers":[{"container":{"ID":"/ctr"},"clock":{"user":"x"}}]}`), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "decode"},
		{"over the bound", func(t *testing.T, path string) {
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(statedir.MaxHistoryFile + 1); err != nil { // sparse: no disk needed
				t.Fatal(err)
			}
		}, "larger than the read bound"},
		{"symlink to /dev/zero", func(t *testing.T, path string) {
			os.Remove(path)
			if err := os.Symlink("/dev/zero", path); err != nil {
				t.Fatal(err)
			}
		}, "too many levels of symbolic links"}, // state files are opened with O_NOFOLLOW
		{"FIFO", func(t *testing.T, path string) {
			os.Remove(path)
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, _ := running(t, dir)
			tc.damage(t, historyFile(dir))
			b, err := restart(t, dir)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "clock journal's 1 containers") {
				t.Errorf("LoadHistory: %v, want an error with %q that names the journal's containers", err, tc.wantErr)
			}
			if diff := cmp.Diff(st.AdvanceClock(next), b.states.get(c).AdvanceClock(next)); diff != "" {
				t.Errorf("restart did not resume from the clock journal (-running +restarted):\n%s", diff)
			}
		})
	}

	t.Run("damaged journal slot", func(t *testing.T) {
		dir := t.TempDir()
		_, saved := running(t, dir)
		if err := os.WriteFile(historyFile(dir), saved, 0o600); err != nil {
			t.Fatal(err)
		}
		// Tear both copies of every tagged slot: the checksums no longer match.
		mem, err := os.ReadFile(filepath.Join(dir, clockJournalName))
		if err != nil {
			t.Fatal(err)
		}
		for i := range clockSlots {
			slot := mem[i*clockSlotSize : (i+1)*clockSlotSize]
			if binary.LittleEndian.Uint64(slot[8:16]) != 0 {
				slot[clockCopyHeader+5] ^= 0xff
				slot[clockCopySize+clockCopyHeader+5] ^= 0xff
			}
		}
		if err := os.WriteFile(filepath.Join(dir, clockJournalName), mem, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := restart(t, dir)
		if err != nil {
			t.Fatalf("LoadHistory with a good file and a damaged journal: %v", err)
		}
		// The file's clock (two CPUs at uptime 10) continues: what a server that only had the
		// file would show.
		var want proc.CPUClock
		want.Advance(proc.CPUSample{Uptime: 10, CPUs: 2, UserTicks: 1000, SystemTicks: 200})
		if diff := cmp.Diff(want.Advance(next), b.states.get(c).AdvanceClock(next)); diff != "" {
			t.Errorf("restart did not resume from the history file (-file +restarted):\n%s", diff)
		}
	})
}
