package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"procfsd/fs"
	"procfsd/fuseconn"
	"procfsd/statedir"
)

// How a process passes the connection to the next one (docs/restarts.md, "Live handover"). The
// variables are set only by procfsd itself: on a live handover (SIGHUP, `procfsd upgrade`) the
// server re-executes its binary with the /dev/fuse descriptor and a memfd of its state; under
// `serve --supervise` the supervisor starts each server with the descriptor alone.
const (
	envFuseFD     = "PROCFSD_FUSE_FD"     // the inherited /dev/fuse descriptor
	envHandoverFD = "PROCFSD_HANDOVER_FD" // a memfd with fs.Server.ExportHandover's state
	envSupervised = "PROCFSD_SUPERVISED"  // "1": a supervisor owns the mount and the pidfile
	envGeneration = "PROCFSD_GENERATION"  // counts the processes that served this mount
)

// selfPath is the binary's path on disk, resolved at start: a handover executes whatever is
// at that path then, so an upgrade only has to replace the file.
var selfPath = func() string {
	p, err := os.Executable()
	if err != nil {
		return "/proc/self/exe"
	}
	return p
}()

// inheritedFD returns the descriptor number in env variable name, if set.
func inheritedFD(name string) (int, bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, false, nil
	}
	os.Unsetenv(name)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return 0, false, fmt.Errorf("%s=%q: not a descriptor", name, v)
	}
	return fd, true, nil
}

func supervised() bool { return os.Getenv(envSupervised) == "1" }

func generation() int {
	n, _ := strconv.Atoi(os.Getenv(envGeneration))
	return max(n, 1)
}

// connect adopts a connection handed over by a predecessor or a supervisor, or else mounts
// one (or adopts systemd's, sdglue.go). The history of containers comes from the handed-over
// state, or else from the file a predecessor saved under --state-dir.
func connect(srv *fs.Server, life *lifecycle, cfg fs.Config) (*fuseconn.Conn, error) {
	fuseFD, ok, err := inheritedFD(envFuseFD)
	if err != nil {
		return nil, err
	}
	if !ok {
		conn, err := life.mount()
		if err != nil {
			return nil, err
		}
		if err := srv.LoadHistory(); err != nil {
			cfg.Logger.Warn("container history not restored", zap.Error(err))
		}
		return conn, nil
	}
	unix.CloseOnExec(fuseFD)
	var init []byte
	stateFD, handed, err := inheritedFD(envHandoverFD)
	if err != nil {
		return nil, err
	}
	if handed {
		init, err = importHandover(srv, stateFD)
		if err != nil {
			cfg.Logger.Warn("handover state not restored", zap.Error(err))
		}
	}
	if !handed || err != nil {
		if err := srv.LoadHistory(); err != nil {
			cfg.Logger.Warn("container history not restored", zap.Error(err))
		}
	}
	conn := fuseconn.Adopt(fuseFD, cfg.Mountpoint, init)
	life.conn, life.adopted, life.handover = conn, true, handed
	cfg.Logger.Info("adopted the connection", zap.Bool("handover", handed), zap.Bool("supervised", supervised()),
		zap.Int("generation", generation()))
	return conn, nil
}

func importHandover(srv *fs.Server, fd int) ([]byte, error) {
	f := os.NewFile(uintptr(fd), "handover")
	defer f.Close()
	data, err := readAllAt(f)
	if err != nil {
		return nil, fmt.Errorf("read handover state: %w", err)
	}
	return srv.ImportHandover(data)
}

func readAllAt(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && len(b) > 0 {
		return nil, err
	}
	return b, nil
}

// handOver executes the binary at selfPath in this process, passing the connection and the
// server's state; Serve must have returned. It returns only if the exec failed, with the
// descriptor left as it was.
func handOver(srv *fs.Server, conn *fuseconn.Conn, log *zap.Logger) error {
	state, err := srv.ExportHandover(conn)
	if err != nil {
		return err
	}
	memfd, err := unix.MemfdCreate("procfsd-handover", 0)
	if err != nil {
		return fmt.Errorf("create handover memfd: %w", err)
	}
	defer unix.Close(memfd)
	if _, err := unix.Pwrite(memfd, state, 0); err != nil {
		return fmt.Errorf("write handover state: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(conn.FD), unix.F_SETFD, 0); err != nil {
		return fmt.Errorf("pass /dev/fuse: %w", err)
	}
	if stateLock >= 0 {
		// The successor keeps the state dir's lock (statedir.go): no second daemon can take it
		// between the two processes.
		if _, err := unix.FcntlInt(uintptr(stateLock), unix.F_SETFD, 0); err != nil {
			unix.CloseOnExec(conn.FD)
			return fmt.Errorf("pass state dir lock: %w", err)
		}
		defer unix.CloseOnExec(stateLock)
	}
	env := append(handoverEnv(os.Environ(), conn.FD, memfd), passLock(stateLock)...)
	log.Info("handing over", zap.String("binary", selfPath), zap.Int("state_bytes", len(state)), zap.Int("generation", generation()))
	log.Sync()
	// Ignored across the exec: the new process keeps SIGHUP ignored until it asks for it (Go's
	// os/signal), so an upgrade signalled meanwhile cannot kill it (SIGHUP's default action).
	signal.Ignore(syscall.SIGHUP)
	err = unix.Exec(selfPath, os.Args, env)
	unix.CloseOnExec(conn.FD)
	return fmt.Errorf("exec %s: %w", selfPath, err)
}

// handoverEnv is env with the handover variables set and systemd's socket-activation
// variables removed: they describe descriptors of the first start, long since closed.
func handoverEnv(env []string, fuseFD, stateFD int) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case envFuseFD, envHandoverFD, envGeneration, envLockFD, "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			continue
		}
		out = append(out, kv)
	}
	return append(out, envFuseFD+"="+strconv.Itoa(fuseFD), envHandoverFD+"="+strconv.Itoa(stateFD),
		envGeneration+"="+strconv.Itoa(generation()+1))
}

// Files under --state-dir that `procfsd upgrade` uses: the pid to signal (the supervisor, or
// the server when it runs alone) and the serving process's readiness line.
const (
	pidFileName   = "serve.pid"
	readyFileName = "ready"
)

func writePidFile(stateDir string) error {
	return writeAtomic(stateDir, pidFileName, fmt.Sprintf("%d\n", os.Getpid()))
}

// removePidFile removes the pidfile on a stop, so that `procfsd upgrade` finds no pid that a
// later process may reuse.
func removePidFile(stateDir string, log *zap.Logger) {
	if stateDir == "" {
		return
	}
	if err := statedir.Remove(stateDir, pidFileName); err != nil {
		log.Warn("pidfile", zap.Error(err))
	}
}

// announceReady records "pid generation version": upgrade waits for the generation to change.
func announceReady(stateDir string, log *zap.Logger) {
	line := fmt.Sprintf("%d %d %s\n", os.Getpid(), generation(), version)
	if err := writeAtomic(stateDir, readyFileName, line); err != nil {
		log.Warn("record readiness", zap.Error(err))
	}
}

// writeAtomic replaces name under the state dir, never through a symlink (statedir.WriteFile).
func writeAtomic(stateDir, name, content string) error {
	return statedir.WriteFile(stateDir, name, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, content)
		return err
	})
}

var errNoDaemon = errors.New("no running daemon")
