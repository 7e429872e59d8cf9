package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"procfsd/fs"
	"procfsd/fuseconn"
	"procfsd/reattach"
	"procfsd/statedir"
)

// supervise is `serve --supervise`, for hosts without systemd: this process mounts the tree,
// keeps the /dev/fuse descriptor and runs the server as a child, which it restarts when it
// dies. The kernel's connection lives as long as a descriptor does, so a crashed server costs
// containers a pause, not "Transport endpoint is not connected"; the successor answers what the
// dead one left in flight (fuseconn/journal.go, FUSE_NOTIFY_RESEND). The supervisor reads no
// requests and runs none of the server's code, so it has little reason to crash itself.
//
// SIGHUP is passed to the server, which hands over to a new execution of the binary in the
// same process (same pid, still this process's child). SIGTERM or SIGINT stops the server,
// unmounts and exits.
func supervise(cfg fs.Config, args []string) error {
	log := cfg.Logger.With(zap.String("role", "supervisor"))
	if err := reattach.CheckNotServed(cfg.Mountpoint, 2*time.Second); err != nil {
		return err
	}
	if err := writePidFile(cfg.StateDir); err != nil {
		return err
	}
	defer removePidFile(cfg.StateDir, log)
	conn, err := fuseconn.Mount(cfg.Mountpoint)
	if err != nil {
		return err
	}
	defer func() {
		if err := conn.Unmount(); err != nil {
			log.Warn("unmount", zap.Error(err))
		}
		syscall.Close(conn.FD)
	}()
	if err := fuseconn.ResetJournal(cfg.StateDir); err != nil {
		log.Warn("reset journal", zap.Error(err))
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	fuse := os.NewFile(uintptr(conn.FD), "/dev/fuse")
	// Each server keeps the state dir locked through the supervisor's descriptor (statedir.go).
	var lock *os.File
	lockFD := -1 // in each server
	if stateLock >= 0 {
		lock = os.NewFile(uintptr(stateLock), cfg.StateDir)
		lockFD = 4
	}
	childArgs := append([]string{"serve"}, withoutSupervise(args)...)
	backoff := 50 * time.Millisecond
	for gen := 1; ; gen++ {
		cmd := exec.Command(selfPath, childArgs...)
		cmd.ExtraFiles = []*os.File{fuse, lock} // descriptors 3 and 4
		cmd.Env = append(os.Environ(), envFuseFD+"=3", envSupervised+"=1", envGeneration+"="+strconv.Itoa(gen))
		cmd.Env = append(cmd.Env, passLock(lockFD)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start server: %w", err)
		}
		log.Info("server started", zap.Int("pid", cmd.Process.Pid), zap.Int("generation", gen))
		started := time.Now()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop, err := superviseChild(cmd, exited, sigs, cfg.StateDir, log)
		if stop {
			return err
		}
		if err == nil {
			// The server exits 0 only when asked or when the connection is gone.
			return errors.New("server exited: the mount is gone")
		}
		// A server that had become ready is restarted at once: its callers are waiting. One
		// that dies before it serves backs off, so a broken binary or config does not spin.
		delay := time.Duration(0)
		if !servedBy(cfg.StateDir, cmd.Process.Pid) && time.Since(started) < 10*time.Second {
			delay, backoff = backoff, min(2*backoff, maxRestartBackoff)
		} else {
			backoff = 50 * time.Millisecond
		}
		log.Warn("server died; restarting it", zap.Error(err), zap.Duration("after", delay))
		select {
		case <-time.After(delay):
		case s := <-sigs:
			if s != syscall.SIGHUP {
				return nil
			}
		}
	}
}

// servedBy reports whether process pid recorded itself ready (announceReady).
func servedBy(stateDir string, pid int) bool {
	b, err := statedir.ReadFile(stateDir, readyFileName, statedir.MaxSmallFile)
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 0 && f[0] == strconv.Itoa(pid)
}

// superviseChild waits for the server to exit or a signal to end it. stop says the supervisor
// must exit, with err; otherwise err is how the server ended.
func superviseChild(cmd *exec.Cmd, exited <-chan error, sigs <-chan os.Signal, stateDir string, log *zap.Logger) (stop bool, err error) {
	for {
		select {
		case err := <-exited:
			return false, err
		case s := <-sigs:
			if s == syscall.SIGHUP {
				// A server that has not started serving would die of it (the default action);
				// it will run the binary on disk anyway.
				if servedBy(stateDir, cmd.Process.Pid) {
					cmd.Process.Signal(syscall.SIGHUP)
				} else {
					log.Warn("SIGHUP ignored: the server is still starting")
				}
				continue
			}
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					return true, fmt.Errorf("server: %w", err)
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
				log.Warn("server did not stop within 10s of SIGTERM; killed")
			}
			return true, nil
		}
	}
}

// withoutSupervise drops --supervise from serve's arguments.
func withoutSupervise(args []string) []string {
	var out []string
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "supervise" {
			continue
		}
		out = append(out, a)
	}
	return out
}
