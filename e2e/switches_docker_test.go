//go:build e2e

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerLabelOptOut: Docker labels are not OCI annotations, so procfsd reads
// procfsd.io/container-stats-isolated from the engine's config.v2.json (--docker-root). A
// container started with the label at 0 sees the host through the README's bind mounts; one
// without sees its limits (docs/behaviour.md §3).
func TestDockerLabelOptOut(t *testing.T) {
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Fatalf("dockerd: %v (make deps installs docker.io)", err)
	}
	h := readHost(t)
	fs := rootfs(t)
	cli := startDockerd(t)
	// startDockerd keeps its data root beside its socket (docker_test.go).
	dataRoot := filepath.Join(filepath.Dir(strings.TrimPrefix(cli[2], "unix://")), "data")
	mnt, state := switchDirs(t)
	d := startCtlDaemon(t, mnt, state, "--docker-root", dataRoot)
	image := "procfsd-e2e-rootfs"
	importImage(t, cli, fs, image)

	lo, li := limits{memory: 256 << 20}, limits{memory: 512 << 20}
	out := startRuntimeContainer(t, d.daemon, cli, lo, "--label", optOutKey+"=0", image)
	in := startRuntimeContainer(t, d.daemon, cli, li, "--label", "maintainer=ops", image)
	pollMemTotal(t, out, h.memTotal)
	pollMemTotal(t, in, expectView(t, h, li).memTotal)

	idOut := dockerContainerID(t, cli, out.name)
	rows := d.list(t)
	var sawOut, sawIn bool
	for _, r := range rows {
		switch {
		case strings.HasSuffix(r.ID, idOut):
			sawOut = true
			if r.Source != "label" || r.Isolated || r.Name != idOut || r.Mode != "host passthrough" {
				t.Errorf("labelled container in ctl list: %+v", r)
			}
		case strings.HasSuffix(r.ID, dockerContainerID(t, cli, in.name)):
			sawIn = true
			if r.Source != "default" || !r.Isolated || r.Mode != "virtualized" {
				t.Errorf("unlabelled container in ctl list: %+v", r)
			}
		}
	}
	if !sawOut || !sawIn {
		t.Errorf("ctl list lacks a container (labelled %v, unlabelled %v): %+v", sawOut, sawIn, rows)
	}
	// The label sets the value at creation; the host CLI can still change it.
	d.mustCtl(t, "ctl", "set", "container", idOut, "1")
	pollMemTotal(t, out, expectView(t, h, lo).memTotal)
	d.alive(t)
}

func dockerContainerID(t *testing.T, cli []string, name string) string {
	t.Helper()
	out, err := exec.Command(cli[0], append(cli[1:], "inspect", "--format", "{{.Id}}", name)...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker inspect %s: %v: %s", name, err, out)
	}
	return strings.TrimSpace(string(out))
}
