package statedir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The state directory holds files root writes, maps and signals from (docs/behaviour.md
// §5.4). Whoever can write to it, or to its parent, could plant symlinks there that make
// the daemon truncate, resize or overwrite files elsewhere, or replace its socket. So it must be
// owned by the daemon's user (root) and writable by nobody else, nor may its parent be (unless
// sticky, like /tmp, where nobody may rename or remove another's entries); and every state file
// is opened relative to the directory without following a symlink.

// ErrUnsafe marks a state directory that is refused.
var ErrUnsafe = errors.New("unsafe state directory")

// Prepare creates dir (mode 0700) if it is missing and checks that it is safe to keep
// root's state in: a directory owned by the daemon's user, writable by nobody else, whose
// parent is owned by root or that user and is not writable by others unless sticky.
func Prepare(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	fd, err := openStateDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st, parent unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat state dir %s: %w", dir, err)
	}
	// ".." of the directory itself, not of the path: a symlinked path has the target's parent.
	if err := unix.Fstatat(fd, "..", &parent, 0); err != nil {
		return fmt.Errorf("stat parent of state dir %s: %w", dir, err)
	}
	uid := uint32(os.Geteuid())
	switch {
	case st.Uid != uid:
		return fmt.Errorf("%w %s: owned by uid %d, not %d", ErrUnsafe, dir, st.Uid, uid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("%w %s: writable by group or others (mode %#o)", ErrUnsafe, dir, st.Mode&0o7777)
	case parent.Uid != 0 && parent.Uid != uid:
		return fmt.Errorf("%w %s: its parent is owned by uid %d", ErrUnsafe, dir, parent.Uid)
	case parent.Mode&0o022 != 0 && parent.Mode&unix.S_ISVTX == 0:
		return fmt.Errorf("%w %s: its parent is writable by group or others and not sticky (mode %#o)",
			ErrUnsafe, dir, parent.Mode&0o7777)
	}
	return nil
}

// openStateDir opens dir for the *at calls below.
func openStateDir(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open state dir: %w", err)
	}
	return fd, nil
}

// openStateFile opens name in dir without following a symlink (O_NOFOLLOW: ELOOP for one), and
// only if it is a regular file; flag is added to O_CLOEXEC|O_NOFOLLOW.
func openStateFile(dir, name string, flag int, perm uint32) (*os.File, error) {
	dfd, err := openStateDir(dir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	return openAt(dfd, dir, name, flag, perm)
}

func openAt(dfd int, dir, name string, flag int, perm uint32) (*os.File, error) {
	path := filepath.Join(dir, name)
	fd, err := unix.Openat(dfd, name, flag|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, perm)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("open %s: not a regular file", path)
	}
	// O_NONBLOCK only kept a FIFO planted under the name from blocking the open.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flag&^unix.O_NONBLOCK); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ReadFile returns the content of name in dir (os.ErrNotExist if there is none), read
// without following a symlink and at most limit bytes: a larger file is ErrTooLarge.
func ReadFile(dir, name string, limit int64) ([]byte, error) {
	f, err := openStateFile(dir, name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readOpenRegular(f, limit)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
	}
	return b, nil
}

// MaxSmallFile bounds the state files of a line or two (serve.pid, ready).
const MaxSmallFile = 4 << 10

// WriteFile replaces name in dir atomically with what write writes: a fresh file
// (name.tmp, created exclusively, never through a symlink), synced, renamed over name, and the
// directory synced, so that a crash leaves the old file or the new one.
func WriteFile(dir, name string, perm uint32, write func(io.Writer) error) error {
	dfd, err := openStateDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	tmp := name + ".tmp"
	// Unlinking removes whatever a crash (or anyone) left under the name, a symlink included,
	// without following it.
	if err := unix.Unlinkat(dfd, tmp, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("write %s: remove stale %s: %w", filepath.Join(dir, name), tmp, err)
	}
	f, err := openAt(dfd, dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, name)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	unix.Fsync(dfd)
	return nil
}

// Remove removes name from dir (a symlink itself, never its target); a missing file
// is not an error.
func Remove(dir, name string) error {
	dfd, err := openStateDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Unlinkat(dfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// openMappedStateFile opens name in dir for mapping, creating it. Anything under the name that
// is not a regular file with one link (a symlink, a FIFO, a hard link to a file elsewhere) is
// removed and a fresh file created: a mapped file that another path can truncate would fault
// (SIGBUS) the process that writes it, and one that is another file would be resized and
// overwritten.
func openMappedStateFile(dir, name string) (*os.File, error) {
	dfd, err := openStateDir(dir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	f, err := openAt(dfd, dir, name, unix.O_RDWR|unix.O_CREAT, 0o600)
	if err == nil {
		var st unix.Stat_t
		if err = unix.Fstat(int(f.Fd()), &st); err == nil && st.Nlink == 1 {
			return f, nil
		}
		f.Close()
	}
	if err := unix.Unlinkat(dfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return nil, fmt.Errorf("replace %s: %w", filepath.Join(dir, name), err)
	}
	return openAt(dfd, dir, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
}
