package reattach

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// errNoAnswer marks a probe of a connection that is alive but not served (its daemon stopped
// without anyone reading its descriptor): not dead, and not ours to replace.
var errNoAnswer = errors.New("no answer")

// probe asks the file system behind path for attributes past the kernel's attribute cache:
// AT_STATX_FORCE_SYNC always sends GETATTR, so a dead connection answers ENOTCONN where a plain
// stat would return cached attributes (fs/fuse/dir.c, fuse_update_get_attr). It returns the
// device of the answering superblock as mountinfo prints it (major:minor).
func probe(path string, timeout time.Duration) (string, error) {
	type result struct {
		dev string
		err error
	}
	done := make(chan result, 1)
	go func() {
		var st unix.Statx_t
		err := unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_FORCE_SYNC, unix.STATX_INO, &st)
		done <- result{fmt.Sprintf("%d:%d", st.Dev_major, st.Dev_minor), err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return "", fmt.Errorf("probe %s: %w", path, r.err)
		}
		return r.dev, nil
	case <-time.After(timeout):
		// The goroutine stays blocked until the connection is served or aborted; a probe of
		// an unserved connection is rare and costs one goroutine.
		return "", fmt.Errorf("probe %s: %w within %v", path, errNoAnswer, timeout)
	}
}

// dead reports whether a probe error means the FUSE connection is gone: ENOTCONN once the last
// descriptor closed, ECONNABORTED after an abort through fusectl (fs/fuse/dev.c).
func dead(err error) bool {
	return errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ECONNABORTED)
}

// gone reports whether a probe error means the process (and maybe its namespace) went away.
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}
