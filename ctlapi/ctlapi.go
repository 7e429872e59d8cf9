// Package ctlapi is the control socket's protocol and its client: what `procfsd ctl`, `procfsd
// status` and the OCI hook send to the daemon, without the daemon's code.
package ctlapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"procfsd/switches"
)

// SocketName is the control socket under --state-dir.
const SocketName = "ctl.sock"

// Request is one call on the control socket: one JSON object per connection, answered by
// one Response. Only root may connect (the socket is 0600 in a 0700 directory, and the
// daemon checks the peer's credentials).
type Request struct {
	// Op is "status", "get-host", "set-host", "set-container", "list" or "register".
	Op string `json:"op"`
	// Value is the new switch value of set-host and set-container.
	Value *bool `json:"value,omitempty"`
	// Container names the container of set-container: a cgroup path or a runtime container ID.
	Container string `json:"container,omitempty"`
	// Register: the runtime's container ID, its OCI annotations, and the cgroups of the hook
	// (/proc/self/cgroup), used when the daemon cannot resolve the hook's PID itself.
	Name        string            `json:"name,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Cgroup      map[string]string `json:"cgroup,omitempty"`
}

// Response answers a Request. Error is set when the call failed; nothing changed then.
type Response struct {
	Error      string           `json:"error,omitempty"`
	Status     *Status          `json:"status,omitempty"`
	Containers []switches.Entry `json:"containers,omitempty"`
	// Entry is the container a set-container or register call changed or recorded.
	Entry *switches.Entry `json:"entry,omitempty"`
}

// Status describes the daemon (procfsd status, and the reply to every set and register).
type Status struct {
	// Mode is "virtualized" (procfsd serves the views) or "native kernel".
	Mode          string `json:"mode"`
	StatsIsolated bool   `json:"stats_isolated"`
	Mountpoint    string `json:"mountpoint"`
	StateDir      string `json:"state_dir"`
	Containers    int    `json:"containers"`
	PID           int    `json:"pid"`
	// RequestTimeoutWarning says that the kernel's FUSE request timeout, read at start, is
	// shorter than a handover or restart can pause requests (fs.Config).
	RequestTimeoutWarning string `json:"request_timeout_warning,omitempty"`
	// LoadSampler is the load sampler's CPU use and the containers it samples less often.
	LoadSampler *SamplerStatus `json:"load_sampler,omitempty"`
	// Metrics are the numbers `serve --metrics-address` exposes (docs/behaviour.md §1.4).
	Metrics *Metrics `json:"metrics,omitempty"`
}

// Metrics are the daemon's counters since it started (package metrics).
type Metrics struct {
	Files                 []FileMetrics `json:"files"`
	Containers            int           `json:"containers"`
	ResolveCacheHits      uint64        `json:"resolve_cache_hits"`
	ResolveCacheMisses    uint64        `json:"resolve_cache_misses"`
	Handovers             uint64        `json:"handovers"`
	CrashRecoveries       uint64        `json:"crash_recoveries"`
	HookRegistrations     uint64        `json:"hook_registrations"`
	LoadSamplerCPUSeconds float64       `json:"load_sampler_cpu_seconds"`
	LoadSamplerCPURatio   float64       `json:"load_sampler_cpu_ratio"`
}

// FileMetrics are one file's counters in one tree.
type FileMetrics struct {
	File          string `json:"file"`
	Tree          string `json:"tree"`
	Reads         uint64 `json:"reads"`
	HostFallbacks uint64 `json:"host_fallbacks"`
}

// SamplerStatus is the load sampler's part of Status.
type SamplerStatus struct {
	IntervalSeconds float64 `json:"interval_seconds"`
	// BudgetPercent is the share of one CPU it may use, CostPercent what it used over its
	// last passes (up to a minute of them at a 1 s interval).
	BudgetPercent float64 `json:"budget_percent"`
	CostPercent   float64 `json:"cost_percent"`
	// SampledLess is the containers whose threads it counts only every few intervals to
	// stay within the budget (degraded), by cgroup path.
	SampledLess []SampledLess `json:"sampled_less"`
}

// SampledLess is one degraded container: counted every Every intervals, a count costing
// CountCostMS of CPU time.
type SampledLess struct {
	Container   string  `json:"container"`
	Every       int     `json:"every"`
	CountCostMS float64 `json:"count_cost_ms"`
}

// ErrDaemonDown means nothing answers on the control socket: no daemon listens, or it drops
// the connection, or it gives no answer in time (a stopped daemon's socket still accepts
// connections into its backlog).
var ErrDaemonDown = errors.New("daemon not reachable")

// Call sends req to the daemon whose --state-dir is stateDir and returns its response; a
// response carrying an error is returned as an error. The whole exchange takes at most
// timeout.
func Call(stateDir string, req Request, timeout time.Duration) (*Response, error) {
	sock := filepath.Join(stateDir, SocketName)
	deadline := time.Now().Add(timeout)
	conn, err := dial(sock, deadline)
	if err != nil {
		return nil, dialError(sock, err)
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, fmt.Errorf("%w: send %s request: %w", ErrDaemonDown, req.Op, err)
	}
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("%w: no answer to %s: %w", ErrDaemonDown, req.Op, err)
		}
		return nil, fmt.Errorf("read %s response: %w", req.Op, err)
	}
	if resp.Error != "" {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}

// dialError says in one line why sock could not be reached. net's error repeats the
// operation and the path ("dial unix SOCK: connect: …"); the errno alone is the cause.
func dialError(sock string, err error) error {
	var errno syscall.Errno
	var nerr net.Error
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w: no socket at %s (is procfsd serve running?)", ErrDaemonDown, sock)
	case errors.Is(err, syscall.ECONNREFUSED):
		// A socket left by a daemon that is gone.
		return fmt.Errorf("%w: nothing listens on %s (is procfsd serve running?)", ErrDaemonDown, sock)
	case errors.As(err, &nerr) && nerr.Timeout():
		return fmt.Errorf("%w: connect to %s: timed out", ErrDaemonDown, sock)
	case errors.As(err, &errno):
		return fmt.Errorf("%w: connect to %s: %w", ErrDaemonDown, sock, errno)
	}
	return fmt.Errorf("%w: %w", ErrDaemonDown, err)
}

// dialRetried, if set, is called before each retry of dial (tests).
var dialRetried func()

// dial connects to the control socket by deadline. A daemon serving its most clients leaves
// the next in the listen backlog; when even that is full, connect fails at once with EAGAIN
// (unix(7)), and the client tries again until its deadline rather than call the daemon down.
func dial(sock string, deadline time.Time) (net.Conn, error) {
	pause := 5 * time.Millisecond
	for {
		conn, err := net.DialTimeout("unix", sock, time.Until(deadline))
		if err == nil || !errors.Is(err, syscall.EAGAIN) || time.Now().Add(pause).After(deadline) {
			return conn, err
		}
		if dialRetried != nil {
			dialRetried()
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}
