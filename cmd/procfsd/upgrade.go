package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"procfsd/statedir"
)

func init() {
	commands["upgrade"] = command{"hand the running daemon's mount over to the binary now on disk", runUpgrade}
}

const upgradeUsage = `usage: procfsd upgrade [flags]

Hand the running daemon's mount over to the binary now on disk (SIGHUP to the daemon of
--state-dir; --mountpoint is not needed) and wait until the new process serves. Exits 1 if
the daemon died or the new process was not ready within --timeout.

example:
  procfsd upgrade --state-dir /run/procfsd
`

// runUpgrade sends SIGHUP to the daemon whose pidfile is in --state-dir and waits until the
// new process says it serves (its readiness line under --state-dir changes): exit 0, or 1 if
// the daemon died or did not become ready in time.
func runUpgrade(args []string, stderr io.Writer) error {
	var f clientFlags
	fl := newFlagSet("upgrade", upgradeUsage, stderr)
	f.register(fl.FlagSet, handoverPause, "the new process")
	if err := fl.parse(args); err != nil {
		return err
	}
	pid, err := readPid(f.stateDir)
	if err != nil {
		return err
	}
	if err := servesStateDir(pid, f.stateDir); err != nil {
		return err
	}
	before, _ := statedir.ReadFile(f.stateDir, readyFileName, statedir.MaxSmallFile)
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("signal daemon %d: %w", pid, err)
	}
	deadline := time.Now().Add(f.timeout)
	for {
		now, err := statedir.ReadFile(f.stateDir, readyFileName, statedir.MaxSmallFile)
		if err == nil && len(now) > 0 && string(now) != string(before) {
			fmt.Printf("serving: %s", now)
			return nil
		}
		if err := syscall.Kill(pid, 0); err != nil {
			return fmt.Errorf("daemon %d exited during the upgrade", pid)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no new process ready within %v", f.timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readPid(stateDir string) (int, error) {
	path := filepath.Join(stateDir, pidFileName)
	b, err := statedir.ReadFile(stateDir, pidFileName, statedir.MaxSmallFile)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%w: no %s", errNoDaemon, path)
	}
	if err != nil {
		return 0, fmt.Errorf("read pidfile: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("read pidfile %s: bad pid %q", path, b)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return 0, fmt.Errorf("%w: pid %d from %s: %v", errNoDaemon, pid, path, err)
	}
	return pid, nil
}

// servesStateDir checks that pid is the procfsd that serves stateDir, the holder of its lock
// (statedir.go), before it is signalled: a pidfile left by a daemon that died may name a pid
// reused since by an unrelated process, which SIGHUP would kill.
func servesStateDir(pid int, stateDir string) error {
	holders, err := lockHolders(stateDir)
	if err != nil {
		return fmt.Errorf("check daemon %d: %w", pid, err)
	}
	if len(holders) == 0 {
		return fmt.Errorf("%w: nothing holds the lock of %s (pid %d in %s is stale)", errNoDaemon, stateDir, pid, pidFileName)
	}
	if !slices.Contains(holders, pid) || !holdsDir(pid, stateDir) {
		return fmt.Errorf("pid %d in %s does not hold the lock of %s (pid %d does); not signalling it", pid, pidFileName, stateDir, holders[0])
	}
	return nil
}
