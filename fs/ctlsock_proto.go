package fs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"time"
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
	Error      string  `json:"error,omitempty"`
	Status     *Status `json:"status,omitempty"`
	Containers []Entry `json:"containers,omitempty"`
	// Entry is the container a set-container or register call changed or recorded.
	Entry *Entry `json:"entry,omitempty"`
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
}

// ErrDaemonDown means nothing answers on the control socket.
var ErrDaemonDown = errors.New("procfsd daemon not reachable")

// Call sends req to the daemon whose --state-dir is stateDir and returns its response; a
// response carrying an error is returned as an error.
func Call(stateDir string, req Request, timeout time.Duration) (*Response, error) {
	sock := filepath.Join(stateDir, SocketName)
	deadline := time.Now().Add(timeout)
	conn, err := dial(sock, deadline)
	if err != nil {
		return nil, fmt.Errorf("%w: dial %s: %w", ErrDaemonDown, sock, err)
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, fmt.Errorf("send %s request: %w", req.Op, err)
	}
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return nil, fmt.Errorf("read %s response: %w", req.Op, err)
	}
	if resp.Error != "" {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
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
