package systemd

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const listenHelperEnv = "PROCFSD_SYSTEMD_LISTEN_HELPER"

// TestListenFDs starts this test binary the way systemd starts a service with a filled fd
// store: two descriptors at 3 and 4, LISTEN_PID set to the new process (sh execs the binary,
// keeping its PID), and names in LISTEN_FDNAMES. The child reports what ListenFDs returned.
func TestListenFDs(t *testing.T) {
	if os.Getenv(listenHelperEnv) != "" {
		listenHelper()
		return
	}
	tests := []struct {
		name, names, pid string
		want             string
	}{
		{"named", "fuse:fuse-init", "$$", "3 fuse cloexec, 4 fuse-init cloexec, env unset"},
		{"unnamed", "", "$$", "3 LISTEN_FD_3 cloexec, 4 LISTEN_FD_4 cloexec, env unset"},
		{"another process", "fuse:fuse-init", "1", "none, env unset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r1, w1, _ := os.Pipe()
			r2, w2, _ := os.Pipe()
			defer func() { r1.Close(); w1.Close(); r2.Close(); w2.Close() }()
			script := fmt.Sprintf(`LISTEN_PID=%s LISTEN_FDS=2 LISTEN_FDNAMES=%s exec "$0" -test.run='^TestListenFDs$'`, tt.pid, tt.names)
			cmd := exec.Command("sh", "-c", script, os.Args[0])
			cmd.Env = append(os.Environ(), listenHelperEnv+"=1")
			cmd.ExtraFiles = []*os.File{w1, w2}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			got := strings.TrimSpace(firstLine(string(out)))
			if got != tt.want {
				t.Errorf("ListenFDs in the child: %q, want %q", got, tt.want)
			}
		})
	}
}

func listenHelper() {
	files, err := ListenFDs()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(0)
	}
	var parts []string
	for _, f := range files {
		flags, _ := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
		cloexec := "inheritable"
		if flags&unix.FD_CLOEXEC != 0 {
			cloexec = "cloexec"
		}
		parts = append(parts, fmt.Sprintf("%d %s %s", f.Fd(), f.Name(), cloexec))
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	env := "env unset"
	for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		if _, ok := os.LookupEnv(k); ok {
			env = k + " still set"
		}
	}
	fmt.Println(strings.Join(parts, ", ") + ", " + env)
	os.Exit(0)
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Scan()
	return sc.Text()
}
