package statedir

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// plantVictim writes a file outside dir that links planted in dir point at.
func plantVictim(t *testing.T, name string) (path, content string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), name)
	content = "someone else's " + name + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, content
}

func checkUntouched(t *testing.T, path, content string) {
	t.Helper()
	if b, err := os.ReadFile(path); err != nil || string(b) != content {
		t.Errorf("%s: %q (%v), want it untouched: %q", path, b, err, content)
	}
}

func checkOwnFile(t *testing.T, path string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
		t.Errorf("%s: mode %#o, %d links; want a regular file of its own", path, st.Mode, st.Nlink)
	}
}

func TestWriteFileIgnoresPlantedLinks(t *testing.T) {
	dir := t.TempDir()
	tmpVictim, tmpContent := plantVictim(t, "tmp")
	victim, content := plantVictim(t, "file")
	if err := os.Symlink(tmpVictim, filepath.Join(dir, "history.json.tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "history.json")); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(dir, "history.json", 0o600, func(w io.Writer) error {
		_, err := io.WriteString(w, "new\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checkUntouched(t, tmpVictim, tmpContent)
	checkUntouched(t, victim, content)
	checkOwnFile(t, filepath.Join(dir, "history.json"))
	if b, err := ReadFile(dir, "history.json", MaxHistoryFile); err != nil || string(b) != "new\n" {
		t.Errorf("history.json: %q, %v; want what was written", b, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "history.json.tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("history.json.tmp after the write: %v, want it gone", err)
	}
}

func TestReadFileRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim, _ := plantVictim(t, "secret")
	if err := os.Symlink(victim, filepath.Join(dir, "switches.json")); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(dir, "switches.json", MaxStateFile); !errors.Is(err, unix.ELOOP) {
		t.Errorf("read through a planted symlink: %q, %v; want ELOOP", b, err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "history.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadFile(dir, "history.json", MaxHistoryFile); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("read of a FIFO: no error, want not a regular file")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("read of a FIFO planted as a state file blocks")
	}
}

// TestMappedStateFileReplacesLinks: a mapped file that is another file (through a symlink or a
// hard link) would be resized and overwritten, and could be truncated under the mapping.
func TestMappedStateFileReplacesLinks(t *testing.T) {
	dir := t.TempDir()
	symVictim, symContent := plantVictim(t, "journal")
	// A hard link needs the same file system: the victim lives beside dir.
	hardVictim := filepath.Join(filepath.Dir(dir), "clocks-victim")
	hardContent := "someone else's clocks\n"
	if err := os.WriteFile(hardVictim, []byte(hardContent), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(hardVictim) })
	// The names of the request journal and the clock journal.
	if err := os.Symlink(symVictim, filepath.Join(dir, "journal")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(hardVictim, filepath.Join(dir, "clocks2")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"journal", "clocks2"} {
		mem, err := MapFile(dir, name, 4096, name)
		if err != nil {
			t.Fatal(err)
		}
		copy(mem, "written through the mapping")
		unix.Munmap(mem)
	}
	checkUntouched(t, symVictim, symContent)
	checkUntouched(t, hardVictim, hardContent)
	checkOwnFile(t, filepath.Join(dir, "journal"))
	checkOwnFile(t, filepath.Join(dir, "clocks2"))
}

func TestPrepare(t *testing.T) {
	mk := func(t *testing.T, parentMode, mode os.FileMode) string {
		parent := filepath.Join(t.TempDir(), "parent")
		state := filepath.Join(parent, "state")
		if err := os.MkdirAll(state, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(state, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(parent, parentMode); err != nil {
			t.Fatal(err)
		}
		return state
	}
	for _, c := range []struct {
		name             string
		parentMode, mode os.FileMode
		ok               bool
	}{
		{"private", 0o755, 0o700, true},
		{"readable", 0o755, 0o755, true},
		{"sticky parent", 0o777 | os.ModeSticky, 0o700, true},
		{"group writable", 0o755, 0o770, false},
		{"other writable", 0o755, 0o707, false},
		{"parent writable", 0o777, 0o700, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Prepare(mk(t, c.parentMode, c.mode))
			if c.ok && err != nil {
				t.Errorf("Prepare: %v, want it accepted", err)
			}
			if !c.ok && !errors.Is(err, ErrUnsafe) {
				t.Errorf("Prepare: %v, want ErrUnsafe", err)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "a", "state")
		if err := Prepare(state); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(state)
		if err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("created state dir: %v, %v; want mode 0700", st.Mode(), err)
		}
	})
	t.Run("owned by another user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give the directory away")
		}
		state := mk(t, 0o755, 0o700)
		if err := os.Chown(state, 1000, 1000); err != nil {
			t.Fatal(err)
		}
		if err := Prepare(state); !errors.Is(err, ErrUnsafe) {
			t.Errorf("Prepare of uid 1000's directory: %v, want ErrUnsafe", err)
		}
	})
}
