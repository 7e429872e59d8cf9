// Package control is the daemon's side of the control socket, ctl.sock under --state-dir: it
// answers procfsd ctl, procfsd status and the OCI hook (ctlapi) from the switches' Board.
package control

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"procfsd/cgroupview"
	"procfsd/ctlapi"
	"procfsd/metrics"
	"procfsd/switches"
)

// Config is what the control socket serves.
type Config struct {
	StateDir   string // where ctl.sock is; "" serves nothing
	Mountpoint string // for status
	// RequestTimeoutWarning, if set, is reported by status (fs.Config).
	RequestTimeoutWarning string
	Switches              *switches.Board
	Cgroups               *cgroupview.Reader
	// Sampler is the load sampler's part of status.
	Sampler func() *ctlapi.SamplerStatus
	// Metrics, if set, counts registrations and is shown by status (docs/behaviour.md §1.4).
	Metrics *metrics.Set
	Logger  *zap.Logger
}

// Server answers the control socket.
type Server struct {
	cfg      Config
	log      *zap.Logger
	switches *switches.Board
	cgroups  *cgroupview.Reader
	// Connections being served, and limits tests lower (0: the defaults ctlClients and
	// ctlConnTimeout).
	ctlConns   atomic.Int32
	ctlClients int
	ctlTimeout time.Duration
}

// New prepares the control socket's server; Start listens.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Server{cfg: cfg, log: cfg.Logger, switches: cfg.Switches, cgroups: cfg.Cgroups}
}

// Start listens on the control socket under --state-dir and serves it, with the switch saver and
// sweeper, until ctx ends (docs/behaviour.md §1.3). Without a state dir it does nothing. Its
// goroutines are counted in wg, so that Serve returns only once nothing writes under the state dir
// any more (a successor, or a test's cleanup, owns it then).
func (s *Server) Start(ctx context.Context, wg *sync.WaitGroup) error {
	if s.cfg.StateDir == "" {
		return nil
	}
	sock := filepath.Join(s.cfg.StateDir, ctlapi.SocketName)
	// A socket left by a previous process (crash, handover) would make Listen fail.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	wg.Add(3)
	go func() { defer wg.Done(); <-ctx.Done(); ln.Close() }()
	go func() { defer wg.Done(); s.switches.Run(ctx) }()
	go func() { defer wg.Done(); s.acceptControl(ctx, ln) }()
	s.log.Info("control socket listening", zap.String("socket", sock))
	return nil
}

// Limits of the control socket. The hook of every starting container calls it, so it must
// outlive a burst of clients: a burst once ran the daemon out of descriptors, accept failed
// with EMFILE, and a loop that ended at the first error left ctl and every hook hanging until
// a restart.
const (
	// ctlClients bounds the connections served at once. The next ones wait in the listen
	// backlog (net.core.somaxconn), where they cost the daemon no descriptor; past the
	// backlog, connect fails with EAGAIN and ctlapi.Call tries again until its deadline.
	ctlClients = 64
	// ctlConnTimeout is how long a client may take to send its request, and then to take the
	// reply: a request is one small JSON object that a client writes as soon as it connects.
	ctlConnTimeout = 5 * time.Second
	// ctlBackoffMin and ctlBackoffMax bound the pause after a failed accept, as net/http's
	// Server.Serve does: accept fails again at once while the cause (EMFILE, ENFILE,
	// ENOBUFS, ENOMEM) lasts, and the pending connection stays in the backlog meanwhile.
	ctlBackoffMin = 5 * time.Millisecond
	ctlBackoffMax = time.Second
)

// unixAcceptor is the listener acceptControl serves: a *net.UnixListener, or a test's.
type unixAcceptor interface {
	AcceptUnix() (*net.UnixConn, error)
}

// acceptControl serves connections from ln until ctx ends or ln is closed, at most ctlClients
// at a time. A failed accept is retried after a growing pause: every error but a closed
// listener passes (accept(2) lists ECONNABORTED, EMFILE, ENFILE, ENOBUFS, ENOMEM, EPERM), and
// a control socket that stopped for good would take every later hook with it.
func (s *Server) acceptControl(ctx context.Context, ln unixAcceptor) {
	timeout := cmp.Or(s.ctlTimeout, ctlConnTimeout)
	slots := make(chan struct{}, cmp.Or(s.ctlClients, ctlClients))
	var pause time.Duration
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		conn, err := ln.AcceptUnix()
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				s.log.Error("control socket closed", zap.Error(err))
				return
			}
			if pause == 0 {
				// Logged once per run of failures; the recovery is logged too.
				s.log.Error("control socket: accept failed; retrying", zap.Error(err))
			}
			pause = min(max(2*pause, ctlBackoffMin), ctlBackoffMax)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return
			}
			continue
		}
		if pause != 0 {
			s.log.Info("control socket accepts again")
			pause = 0
		}
		s.ctlConns.Add(1)
		go func() {
			defer func() { s.ctlConns.Add(-1); <-slots }()
			s.serveConn(conn, timeout)
		}()
	}
}

// maxRequest bounds a request; a registration with a container's annotations is a few KiB.
const maxRequest = 1 << 20

// serveConn answers one request. Callers other than root are refused even if they got past
// the socket's mode. A client has timeout to send its request and as long again to take the
// reply, so that a silent one gives its slot back (ctlClients).
func (s *Server) serveConn(conn *net.UnixConn, timeout time.Duration) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	cred, err := peerCred(conn)
	var resp *ctlapi.Response
	var req ctlapi.Request
	// The request is read before the caller is judged, so that a refused caller gets the
	// reason rather than a broken pipe; it is bounded and never acted on.
	decodeErr := json.NewDecoder(io.LimitReader(conn, maxRequest)).Decode(&req)
	switch {
	case err != nil:
		resp = &ctlapi.Response{Error: err.Error()}
	case cred.Uid != 0:
		resp = &ctlapi.Response{Error: fmt.Sprintf("uid %d: only root may use the control socket", cred.Uid)}
	case decodeErr != nil:
		resp = &ctlapi.Response{Error: fmt.Sprintf("decode request: %v", decodeErr)}
	default:
		resp = s.handle(req, int(cred.Pid))
	}
	if resp.Error != "" {
		s.log.Warn("control request refused", zap.String("op", req.Op), zap.String("error", resp.Error))
	}
	conn.SetDeadline(time.Now().Add(timeout))
	json.NewEncoder(conn).Encode(resp)
}

func peerCred(conn *net.UnixConn) (*unix.Ucred, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("read peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("read peer credentials: %w", err)
	}
	if credErr != nil {
		return nil, fmt.Errorf("read peer credentials: %w", credErr)
	}
	return cred, nil
}

// handle dispatches one request; peer is the caller's PID in the host PID namespace.
func (s *Server) handle(req ctlapi.Request, peer int) *ctlapi.Response {
	var err error
	resp := &ctlapi.Response{}
	switch req.Op {
	case "status", "get-host":
	case "set-host":
		if req.Value == nil {
			return &ctlapi.Response{Error: "set-host: no value"}
		}
		err = s.switches.SetHost(*req.Value, "ctl")
	case "set-container":
		if req.Value == nil {
			return &ctlapi.Response{Error: "set-container: no value"}
		}
		resp.Entry, err = s.ctlSetContainer(req.Container, *req.Value)
	case "list":
		host, _ := s.switches.Host()
		resp.Containers = s.switches.List()
		for i := range resp.Containers {
			resp.Containers[i].Mode = s.switches.Mode(&resp.Containers[i], host)
		}
	case "register":
		resp.Entry, err = s.register(req, peer)
		if err == nil && s.cfg.Metrics != nil {
			s.cfg.Metrics.Registered()
		}
	default:
		return &ctlapi.Response{Error: fmt.Sprintf("unknown op %q", req.Op)}
	}
	if err != nil {
		return &ctlapi.Response{Error: err.Error()}
	}
	resp.Status, err = s.daemonStatus()
	if err != nil {
		return &ctlapi.Response{Error: err.Error()}
	}
	return resp
}

func (s *Server) daemonStatus() (*ctlapi.Status, error) {
	host, err := s.switches.Host()
	if err != nil {
		return nil, err
	}
	st := &ctlapi.Status{Mode: switches.ModeVirtualized, StatsIsolated: host, Mountpoint: s.cfg.Mountpoint,
		StateDir: s.cfg.StateDir, Containers: s.switches.Len(), PID: os.Getpid()}
	if s.cfg.Sampler != nil {
		st.LoadSampler = s.cfg.Sampler()
	}
	if s.cfg.Metrics != nil {
		st.Metrics = s.cfg.Metrics.Status()
	}
	if s.switches.Kernel() != nil {
		st.Mode = switches.ModeNative
	}
	st.RequestTimeoutWarning = s.cfg.RequestTimeoutWarning
	return st, nil
}

// ctlSetContainer sets the switch of the one container arg names: a seen container (by cgroup
// path or runtime ID), or a cgroup path that exists on the host.
func (s *Server) ctlSetContainer(arg string, on bool) (*switches.Entry, error) {
	arg, err := switches.Canonical(arg)
	if err != nil {
		return nil, fmt.Errorf("set-container: %w", err)
	}
	found := s.switches.Find(arg)
	switch {
	case len(found) == 1:
		return s.switches.SetContainer(found[0].Container(), on, switches.SourceCtl)
	case len(found) > 1:
		return nil, fmt.Errorf("set-container: %q names %d containers; give the cgroup path", arg, len(found))
	}
	for _, p := range candidatePaths(arg) {
		if c, ok := s.cgroupByPath(p); ok {
			return s.switches.SetContainer(c, on, switches.SourceCtl)
		}
	}
	return nil, fmt.Errorf("set-container: no container %q seen, and no such cgroup", arg)
}

// candidatePaths are the cgroups arg may name: itself, or for a full 64-digit runtime ID the
// paths Docker and podman give a container they have not yet let read a file (cgroupfs and
// systemd drivers).
func candidatePaths(arg string) []string {
	if len(arg) != 64 || !switches.IsHex(arg) {
		return []string{arg}
	}
	return []string{"/docker/" + arg, "/system.slice/docker-" + arg + ".scope",
		"/libpod_parent/libpod-" + arg, "/machine.slice/libpod-" + arg + ".scope"}
}

// cgroupByPath builds the container whose every controller path is p, if that cgroup exists.
func (s *Server) cgroupByPath(p string) (*cgroupview.Container, bool) {
	if p == "" || p[0] != '/' || p == "/" {
		return nil, false
	}
	paths := map[string]string{}
	for _, ctrl := range []string{"memory", "cpu", "cpuacct", "cpuset", "blkio", "pids"} {
		paths[ctrl] = p
	}
	switch s.cgroups.Mode() {
	case cgroupview.Unified:
		paths = map[string]string{"": p}
	case cgroupview.Hybrid:
		paths[""] = p
	}
	c := &cgroupview.Container{ID: p, Paths: paths}
	return c, s.cgroups.Exists(c)
}

// register records a container announced by the OCI hook: the hook runs in the container's cgroups,
// so resolving its PID gives the same container key readers will get; when that fails (a
// --proc-root that is not the host's), the cgroups the hook reported are used. The opt-out
// annotation, if any, sets the switch (docs/behaviour.md §3); a new container otherwise starts from
// the default, even if an old one had the same cgroup.
func (s *Server) register(req ctlapi.Request, peer int) (*switches.Entry, error) {
	c, err := s.cgroups.Resolve(peer)
	if err != nil || c.Root {
		c, err = containerFromPaths(req.Cgroup, s.cgroups.Mode())
		if err != nil {
			return nil, fmt.Errorf("register %s: %w", req.Name, err)
		}
	}
	on, set := switches.Annotation(req.Annotations[switches.OptOutKey])
	source := switches.SourceDefault
	if set {
		source = switches.SourceAnnotation
	}
	if s.switches.Kernel() != nil && !on {
		if err := s.switches.Kernel().SetContainer(c.Paths, false); err != nil {
			return nil, fmt.Errorf("register %s: %w", req.Name, err)
		}
	}
	e := &switches.Entry{ID: c.ID, Name: req.Name, Cgroup: c.Paths, Isolated: on, Source: source}
	s.switches.Register(e)
	s.log.Info("container registered", zap.String("container", c.ID), zap.String("name", req.Name),
		zap.Bool("container_stats_isolated", on), zap.String("source", source))
	return e, nil
}

// containerFromPaths keys a container by its cgroups the way cgroupview does: the v2 path on
// a unified host, else the memory controller's path.
func containerFromPaths(paths map[string]string, mode cgroupview.Mode) (*cgroupview.Container, error) {
	id := paths["memory"]
	if mode == cgroupview.Unified {
		id = paths[""]
	}
	if id == "" || id[0] != '/' || id == "/" {
		return nil, errors.New("no container cgroup: the caller is in the root cgroup")
	}
	return &cgroupview.Container{ID: id, Paths: paths}, nil
}
