package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStateDirLock: the lock is found in the lock table with its holder, a second lock on the
// directory is refused with the holder named, and a process that does not hold the directory is
// not taken for its holder.
func TestStateDirLock(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(envLockFD, "")
	defer func() {
		if stateLock >= 0 {
			unix.Close(stateLock)
			stateLock = -1
		}
	}()
	if err := lockStateDir(dir); err != nil {
		t.Fatal(err)
	}
	holders, err := lockHolders(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(holders, os.Getpid()) || !holdsDir(os.Getpid(), dir) {
		t.Errorf("lock holders of %s: %v, want this process (%d) holding it", dir, holders, os.Getpid())
	}
	if err := servesStateDir(os.Getpid(), dir); err != nil {
		t.Errorf("servesStateDir of the holder: %v", err)
	}
	if err := servesStateDir(os.Getppid(), dir); err == nil {
		t.Errorf("servesStateDir of the parent process (%d): no error, want a refusal", os.Getppid())
	}

	held := stateLock
	stateLock = -1
	err = lockStateDir(dir)
	stateLock = held
	if err == nil || !strings.Contains(err.Error(), "in use by another procfsd") {
		t.Errorf("second lock: %v, want the directory in use", err)
	}

	other := t.TempDir()
	if hs, err := lockHolders(other); err != nil || len(hs) != 0 {
		t.Errorf("lock holders of an unlocked directory: %v, %v; want none", hs, err)
	}
}
