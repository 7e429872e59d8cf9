package fs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"procfsd/internal/testenv"
)

// TestSwitchOpenForWriteNeedsTheRightCaller: a caller that may not change a switch cannot even
// open its file for writing, as with the kernel's sysctls, so that it cannot hand the open file
// to a privileged writer (a set-uid program's output); reading stays open to everyone.
func TestSwitchOpenForWriteNeedsTheRightCaller(t *testing.T) {
	testenv.RequireFUSE(t) // mounts FUSE and runs a process as nobody
	srv, dir := mountForTest(t, Config{StatsIsolated: true})
	for _, name := range []string{"stats_isolated", "container_stats_isolated"} {
		file := filepath.Join(dir, "proc/sys/kernel", name)
		// As nobody: open for appending (no write follows), then open for reading.
		cmd := exec.Command("sh", "-c", `(exec 3>>"$1") && echo opened; cat "$1" >/dev/null && echo read`, "sh", file)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, _ := cmd.CombinedOutput()
		if strings.Contains(string(out), "opened") || !strings.Contains(string(out), "not permitted") {
			t.Errorf("nobody opening %s for writing: %q, want EPERM", name, out)
		}
		if !strings.Contains(string(out), "read") {
			t.Errorf("nobody reading %s: %q", name, out)
		}
		f, err := os.OpenFile(file, os.O_WRONLY, 0)
		if name == "stats_isolated" && err != nil {
			t.Errorf("host root opening %s for writing: %v", name, err)
		}
		if err == nil {
			f.Close()
		}
	}
	if !hostOn(srv) {
		t.Errorf("the host switch changed")
	}
}
