//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDocker proves the README recipe (`docker run -v <mount>/proc/meminfo:/proc/meminfo:ro …`)
// with a private dockerd that the test starts and stops, and an image imported from the rootfs.
func TestDocker(t *testing.T) {
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Fatalf("dockerd: %v (make deps installs docker.io)", err)
	}
	h := readHost(t)
	fs := rootfs(t)
	d := startDaemon(t, daemonOptions{})
	cli := startDockerd(t)
	image := "procfsd-e2e-rootfs"
	importImage(t, cli, fs, image)

	la := limits{memory: 256 << 20, cpus: strconv.Itoa(h.cpus - 1), quota: 0.5}
	lb := limits{memory: 1 << 30, cpus: "0-1"}
	a := startRuntimeContainer(t, d, cli, la, image)
	b := startRuntimeContainer(t, d, cli, lb, image)
	checkRuntimeContainers(t, d, h, a, b, la, lb)
}

// startDockerd runs a dockerd with its own data and exec roots, socket and pid file, without
// networking or iptables changes, and returns the docker CLI prefix that talks to it. Its cleanup
// stops it with SIGTERM (which stops its containers) and removes its directories.
func startDockerd(t *testing.T) []string {
	t.Helper()
	// Short paths: containerd's sockets live under the exec root and a unix socket path is
	// limited to 108 bytes.
	dir, err := os.MkdirTemp("/tmp", "procfsd-e2e-dk")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	cmd := exec.Command("dockerd",
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"-H", "unix://"+sock, "--pidfile", filepath.Join(dir, "docker.pid"),
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if terminate(cmd, done, 60*time.Second) {
			t.Errorf("dockerd did not stop within 60s of SIGTERM")
		}
		// dockerd unmounts what it mounted; detach anything left so the directory can go.
		for _, m := range mountinfo(t) {
			if strings.HasPrefix(m.point, dir+"/") {
				t.Logf("dockerd left %s mounted; detaching", m.point)
				syscall.Unmount(m.point, syscall.MNT_DETACH)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	cli := []string{"docker", "-H", "unix://" + sock}
	poll(t, 90*time.Second, "dockerd ready", func() error {
		select {
		case err := <-done:
			t.Fatalf("dockerd exited: %v\n%s", err, tail(logs.String(), 30))
		default:
		}
		out, err := exec.Command(cli[0], append(cli[1:], "version", "--format", "{{.Server.Version}}")...).CombinedOutput()
		if err != nil {
			return notYet("%v: %s", err, out)
		}
		t.Logf("dockerd %s on %s", strings.TrimSpace(string(out)), sock)
		return nil
	})
	return cli
}

// importImage makes an image from the rootfs: tar -C ROOTFS -c . | docker import - NAME.
func importImage(t *testing.T, cli []string, rootfs, name string) {
	t.Helper()
	script := fmt.Sprintf("tar -C %s -c . | %s import - %s", shellQuote(rootfs), strings.Join(cli, " "), name)
	if out, err := exec.Command("bash", "-c", "set -o pipefail; "+script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}
