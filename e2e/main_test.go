//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain runs the helper modes of the test binary (helper_test.go) when asked to, and otherwise
// the suite, after which it checks that the suite left no daemon mounts and no test cgroups behind.
func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Args[1:]))
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: the suite mounts FUSE, creates cgroups and namespaces: run it as root (make test)")
		os.Exit(1)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: /dev/fuse:", err)
		os.Exit(1)
	}
	fds := openFDs()
	// Left over by an earlier, killed run: reported there, not blamed on this one.
	stale := map[string]bool{}
	for _, c := range leftoverCgroups() {
		stale[c] = true
	}
	code := m.Run()
	var leaks []string
	// Every file, pipe and socket the suite opened must be closed again (the exec package's
	// pipes close asynchronously, so give them a moment).
	deadline := time.Now().Add(5 * time.Second)
	for openFDs() > fds && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := openFDs(); n > fds {
		leaks = append(leaks, fmt.Sprintf("%d open file descriptors (%d before the tests)", n, fds))
	}
	mounts, err := readMountinfo()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		code = 1
	}
	for _, e := range mounts {
		if strings.Contains(e.point, "/procfsd-e2e-") {
			leaks = append(leaks, "mount "+e.point+" ("+e.fstype+")")
			syscall.Unmount(e.point, syscall.MNT_DETACH)
		}
	}
	for _, c := range leftoverCgroups() {
		if !stale[c] {
			leaks = append(leaks, "cgroup "+c)
		}
	}
	if len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: the suite left behind:\n  %s\n", strings.Join(leaks, "\n  "))
		code = 1
	}
	os.Exit(code)
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}
