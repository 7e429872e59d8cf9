package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"procfsd/fuseconn"
	"procfsd/reattach"
	"procfsd/systemd"
)

// lifecycle is serve's side of systemd (package systemd) and of the start-up re-attach: it
// mounts or adopts the connection, says READY once the mount answers, keeps the connection in
// the fd store, pings the watchdog and says STOPPING. Without systemd every notification is a
// no-op and serve behaves as a plain foreground daemon (README, "Running under systemd").
type lifecycle struct {
	log        *zap.Logger
	mountpoint string
	conn       *fuseconn.Conn
	adopted    bool   // the connection was inherited, not mounted here
	handover   bool   // inherited with a predecessor's state: a live handover (handover.go)
	how        string // how it was inherited, for STATUS
	stored     bool   // the connection is in the fd store, so the mount outlives this process
}

func newLifecycle(log *zap.Logger, mountpoint string) *lifecycle {
	return &lifecycle{log: log, mountpoint: mountpoint}
}

// mount adopts the connection systemd kept in the fd store across a restart, or mounts a fresh
// one, first detaching a dead mount an earlier daemon left at the mountpoint.
func (l *lifecycle) mount() (*fuseconn.Conn, error) {
	files, err := systemd.ListenFDs()
	if err != nil {
		l.log.Warn("read descriptors passed by systemd", zap.Error(err))
	}
	if conn, err := adoptStored(files, l.mountpoint); err != nil {
		l.log.Warn("fd store holds no usable connection; mounting afresh", zap.Error(err))
		l.notify(systemd.RemoveFDs(fdNameFuse))
		l.notify(systemd.RemoveFDs(fdNameInit))
	} else if conn != nil {
		l.conn, l.adopted, l.how = conn, true, "adopted from the fd store"
		l.log.Info("adopted the connection kept in systemd's fd store", zap.String("mountpoint", l.mountpoint))
		return conn, nil
	}
	if n, err := reattach.ClearDead(l.mountpoint, 2*time.Second); err != nil {
		return nil, err
	} else if n > 0 {
		l.log.Info("detached dead mounts left by an earlier daemon", zap.String("mountpoint", l.mountpoint), zap.Int("mounts", n))
	}
	if err := reattach.CheckNotServed(l.mountpoint, 2*time.Second); err != nil {
		return nil, err
	}
	conn, err := fuseconn.Mount(l.mountpoint)
	l.conn = conn
	return conn, err
}

// ready is fs.Config.OnReady: the mount answers. Store the connection, tell systemd, start the
// watchdog and repair containers whose mounts died with an earlier daemon.
func (l *lifecycle) ready() {
	if l.conn != nil {
		l.stored = l.store()
	}
	how := l.how
	switch {
	case how != "":
	case l.adopted:
		how = "adopted"
	default:
		how = "mounted"
	}
	l.notify(systemd.Ready)
	l.notify(systemd.Status(fmt.Sprintf("serving %s (%s)", l.mountpoint, how)))
	l.startWatchdog()
	go l.reattach(how)
}

// store puts the descriptor and its INIT request into the fd store, so that a crash followed
// by Restart=always resumes the same connection; it reports whether systemd took them.
func (l *lifecycle) store() bool {
	init := l.conn.InitRequest()
	if init == nil {
		l.log.Warn("no INIT request saved; the connection is not kept across restarts")
		return false
	}
	memfd, err := sealedInit(init)
	if err != nil {
		l.log.Warn("keep INIT request for a restart", zap.Error(err))
		return false
	}
	defer unix.Close(memfd)
	// A fresh mount replaces whatever INIT an older connection left in the store.
	l.notify(systemd.RemoveFDs(fdNameInit))
	if ok := l.notify(systemd.StoreFDs(fdNameInit), memfd); !ok {
		return false
	}
	return l.notify(systemd.StoreFDs(fdNameFuse), l.conn.FD)
}

// startWatchdog pings at half of WatchdogSec while a GETATTR through the mount has been
// answered within the last WatchdogSec: a server whose request loops hang stops pinging and
// systemd restarts it, which the fd store makes harmless to containers. The probe runs in a
// child process, never in the server's own (fuseconn.ProbeMount), on its own schedule, so that a
// child slow to start on a busy node delays no ping.
func (l *lifecycle) startWatchdog() {
	every, err := systemd.WatchdogInterval()
	if err != nil {
		l.log.Warn("watchdog", zap.Error(err))
	}
	if every <= 0 {
		return
	}
	var answered atomic.Int64             // unix nanoseconds of the last answered probe; -1: connection gone
	answered.Store(time.Now().UnixNano()) // ready: the mount has just answered
	go func() {
		for range time.Tick(every / 2) {
			err := fuseconn.ProbeMount(l.mountpoint, every)
			switch {
			case errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ECONNABORTED):
				answered.Store(-1) // the connection is gone; let systemd notice
				return
			case err != nil:
				l.log.Warn("watchdog probe", zap.Error(err))
			default:
				answered.Store(time.Now().UnixNano())
			}
		}
	}()
	go func() {
		for range time.Tick(every / 2) {
			last := answered.Load()
			if last < 0 {
				return
			}
			if time.Since(time.Unix(0, last)) <= every {
				l.notify(systemd.Watchdog)
			}
		}
	}()
}

// reattach runs the start-up re-attach once (package reattach), off the request path, in a
// child process (`procfsd reattach`): it probes this server's own mount, which the server's
// process must never do (fuseconn/selfprobe.go).
func (l *lifecycle) reattach(how string) {
	r, err := reattachChild(l.mountpoint)
	if err != nil {
		l.log.Warn("reattach", zap.Error(err))
		return
	}
	for _, m := range r.Fixed {
		l.log.Info("reattached a dead mount", zap.Int("pid", m.PID), zap.String("mntns", m.MountNS),
			zap.String("target", m.Target), zap.String("file", m.File), zap.String("way", m.Way))
	}
	for _, m := range r.Failed {
		l.log.Warn("could not reattach a dead mount", zap.Int("pid", m.PID), zap.String("mntns", m.MountNS),
			zap.String("target", m.Target), zap.String("error", m.Error))
	}
	l.log.Info("reattach done", zap.Int("namespaces", r.Namespaces), zap.Int("live", r.Live),
		zap.Int("fixed", len(r.Fixed)), zap.Int("failed", len(r.Failed)), zap.Int("unanswered", len(r.Unanswered)))
	if len(r.Fixed)+len(r.Failed) > 0 {
		l.notify(systemd.Status(fmt.Sprintf("serving %s (%s); reattached %d dead mounts, %d failed",
			l.mountpoint, how, len(r.Fixed), len(r.Failed))))
	}
}

// stopping tells systemd that shutdown began and reports whether the mount must stay: when
// the connection is in the fd store, this may be a restart, and the unit's ExecStopPost
// unmounts only on a real stop.
func (l *lifecycle) stopping() (keepMount bool) {
	l.notify(systemd.Stopping)
	l.notify(systemd.Status("stopping"))
	return l.stored
}

// notify sends one state, logging a failure; it reports whether systemd was told.
func (l *lifecycle) notify(state string, fds ...int) bool {
	sent, err := systemd.NotifyWithFDs(state, fds...)
	if err != nil {
		l.log.Warn("notify systemd", zap.Error(err))
	}
	return sent && err == nil
}

// reattachChild runs `procfsd reattach -o json` on mountpoint with this very binary and returns
// its report.
func reattachChild(mountpoint string) (*reattach.Report, error) {
	cmd := exec.Command("/proc/self/exe", "reattach", "--mountpoint", mountpoint, "-o", "json")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var r reattach.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		if runErr != nil {
			return nil, fmt.Errorf("run reattach: %w: %s", runErr, bytes.TrimSpace(stderr.Bytes()))
		}
		return nil, fmt.Errorf("read reattach report: %w", err)
	}
	return &r, nil // an exit status 1 says some mounts failed, which the report lists
}
