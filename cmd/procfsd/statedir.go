package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"procfsd/statedir"

	"golang.org/x/sys/unix"
)

// One daemon per state directory: serve holds an exclusive flock on the directory for as long
// as it serves (docs/behaviour.md §5.4). A second serve on the same directory would take
// over its socket, pidfile and readiness line, so it is refused. The lock belongs to the open
// directory, not to a process: a live handover keeps the descriptor across the exec, and a
// supervisor passes it to each server it starts, so neither ever lets go of it. `procfsd
// upgrade` signals only the process that holds it (lockHolders).
const envLockFD = "PROCFSD_LOCK_FD" // the inherited descriptor of the locked state directory

// stateLock is the locked state directory's descriptor, -1 without one.
var stateLock = -1

// lockStateDir checks the state directory (statedir.Prepare) and takes its lock, or adopts
// the one a predecessor or supervisor passed.
func lockStateDir(dir string) (err error) {
	if dir == "" {
		return nil
	}
	// A passed lock is taken up first, so that it is closed whatever fails below: left open, it
	// would keep the directory locked through every later exec.
	fd, inherited, err := inheritedFD(envLockFD)
	if err != nil {
		return err
	}
	if inherited {
		unix.CloseOnExec(fd)
	}
	defer func() {
		if err != nil && fd >= 0 {
			unix.Close(fd)
		}
	}()
	if !inherited {
		fd = -1
	}
	if err := statedir.Prepare(dir); err != nil {
		return err
	}
	var want unix.Stat_t
	if err := unix.Stat(dir, &want); err != nil {
		return fmt.Errorf("lock state dir: %w", err)
	}
	if inherited {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Dev != want.Dev || st.Ino != want.Ino {
			return fmt.Errorf("%s=%d: not the state dir %s", envLockFD, fd, dir)
		}
	} else if fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		fd = -1
		return fmt.Errorf("lock state dir: %w", err)
	}
	// On an inherited descriptor this finds the lock already held by its open directory.
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := "another process"
			if pids, _ := lockHolders(dir); len(pids) > 0 {
				holder = "pid " + strconv.Itoa(pids[0])
			}
			return fmt.Errorf("state dir %s is in use by another procfsd (%s); give each daemon its own --state-dir", dir, holder)
		}
		return fmt.Errorf("lock state dir %s: %w", dir, err)
	}
	stateLock = fd
	return nil
}

// lockHolders returns the processes holding an flock on an inode with dir's inode number,
// from /proc/locks (fs/locks.c, lock_get_status: "1: FLOCK  ADVISORY  WRITE pid maj:min:ino
// start end"). The device there is the superblock's, which stat does not always show (btrfs
// subvolumes, overlayfs), so only the inode number is compared; holdsDir confirms a holder.
func lockHolders(dir string) ([]int, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", dir, err)
	}
	ino := ":" + strconv.FormatUint(st.Ino, 10)
	f, err := os.Open("/proc/locks")
	if err != nil {
		return nil, fmt.Errorf("read lock table: %w", err)
	}
	defer f.Close()
	var pids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Waiters are listed as "1: -> FLOCK ..."; only holders count.
		if len(fields) < 6 || fields[1] != "FLOCK" || strings.Count(fields[5], ":") != 2 || !strings.HasSuffix(fields[5], ino) {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil {
			pids = append(pids, pid)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read lock table: %w", err)
	}
	return pids, nil
}

// holdsDir reports whether process pid has dir open, as the process holding its lock does.
func holdsDir(pid int, dir string) bool {
	var want unix.Stat_t
	if err := unix.Stat(dir, &want); err != nil {
		return false
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		var st unix.Stat_t
		if unix.Stat(fdDir+"/"+e.Name(), &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			return true
		}
	}
	return false
}

// passLock returns the env entry that passes the lock to a process that inherits it as
// descriptor fd, nil for fd < 0 (no lock to pass).
func passLock(fd int) []string {
	if fd < 0 {
		return nil
	}
	return []string{envLockFD + "=" + strconv.Itoa(fd)}
}
