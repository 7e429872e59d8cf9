package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// The longest a request waits in the kernel, unanswered, while the connection passes from one
// process to the next by design (docs/restarts.md, "FUSE request
// timeouts"). The kernel aborts a connection whose request waits longer than its request
// timeout, and every container's mounts then answer ENOTCONN.
const (
	// handoverPause: `procfsd upgrade` waits this long for the new process to serve (its
	// --timeout); a live handover itself takes milliseconds.
	handoverPause = 30 * time.Second
	// maxRestartBackoff: under --supervise, the longest wait before a server that died before
	// it served is started again (supervise.go).
	maxRestartBackoff = 5 * time.Second
	// systemdRestartPause: under systemd/procfsd.service, a server whose request loops hang
	// stops pinging and is aborted after WatchdogSec=30s, given TimeoutStopSec=15s to end
	// (the abort timeout defaults to it) and restarted RestartSec=250ms later.
	systemdRestartPause = 30*time.Second + 15*time.Second + 250*time.Millisecond
	// longestPause is the longest of them.
	longestPause = max(handoverPause, maxRestartBackoff, systemdRestartPause)
)

// fuseSysctlDir holds the kernel's FUSE request timeouts (Linux 6.15,
// Documentation/admin-guide/sysctl/fs.rst): default_request_timeout and max_request_timeout,
// in seconds, 0 meaning none.
const fuseSysctlDir = "/proc/sys/fs/fuse"

// requestTimeouts are the two sysctls.
type requestTimeouts struct {
	Default, Max uint32 // seconds; 0: not set
}

// readRequestTimeouts reads the sysctls under dir; ok is false on a kernel without them.
func readRequestTimeouts(dir string) (t requestTimeouts, ok bool, err error) {
	for name, v := range map[string]*uint32{"default_request_timeout": &t.Default, "max_request_timeout": &t.Max} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return requestTimeouts{}, false, nil
		}
		if err != nil {
			return requestTimeouts{}, false, fmt.Errorf("read fs.fuse.%s: %w", name, err)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
		if err != nil {
			return requestTimeouts{}, false, fmt.Errorf("read fs.fuse.%s: %w", name, err)
		}
		*v = uint32(n)
	}
	return t, true, nil
}

// effective is the request timeout the kernel gives a connection initialised while t is set,
// for a server that asks for none, as procfsd does (fs/fuse/inode.c, init_server_timeout): the
// default, capped by the maximum; the maximum alone when there is no default; 0 for none.
// Some kernels raise a timeout under 15 s to 15 s (FUSE_TIMEOUT_TIMER_FREQ, how often they
// check); that is left out, so the warning errs on the side of speaking.
func (t requestTimeouts) effective() time.Duration {
	s := t.Default
	if t.Max > 0 && (s == 0 || s > t.Max) {
		s = t.Max
	}
	return time.Duration(s) * time.Second
}

// requestTimeoutWarning returns a one-line warning when connections mounted while t is set
// would be aborted by a pause as long as pause, or "" when they would not.
func requestTimeoutWarning(t requestTimeouts, pause time.Duration) string {
	eff := t.effective()
	if eff == 0 || eff >= pause {
		return ""
	}
	return fmt.Sprintf("fs.fuse.default_request_timeout=%d, max_request_timeout=%d: the kernel aborts a FUSE connection "+
		"mounted while they are set once a request waits %v, but a handover or restart of procfsd can hold requests for %v; "+
		"every container's procfsd files would then fail with ENOTCONN (set both to 0, or to at least %d)",
		t.Default, t.Max, eff, pause, int64((pause+time.Second-1)/time.Second))
}

// checkRequestTimeouts reads the kernel's FUSE request timeouts at start and logs a warning
// when they are shorter than longestPause; it returns the warning for `procfsd status`.
func checkRequestTimeouts(log *zap.Logger) string {
	t, ok, err := readRequestTimeouts(fuseSysctlDir)
	if err != nil {
		log.Warn("FUSE request timeouts unknown", zap.Error(err))
		return ""
	}
	if !ok {
		return ""
	}
	w := requestTimeoutWarning(t, longestPause)
	if w != "" {
		log.Warn("FUSE request timeout shorter than a restart's pause", zap.Uint32("default_request_timeout", t.Default),
			zap.Uint32("max_request_timeout", t.Max), zap.Duration("longest_pause", longestPause), zap.String("warning", w))
	}
	return w
}
