//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// reattachReport is `procfsd reattach -o json` (package reattach, Report).
type reattachReport struct {
	Mountpoint string          `json:"mountpoint"`
	Namespaces int             `json:"namespaces"`
	Live       int             `json:"live"`
	Fixed      []reattachMount `json:"fixed"`
	Failed     []reattachMount `json:"failed"`
	Unanswered []reattachMount `json:"unanswered"`
}

type reattachMount struct {
	PID     int    `json:"pid"`
	MountNS string `json:"mntns"`
	Target  string `json:"target"`
	File    string `json:"file"`
	Way     string `json:"way"`
	Error   string `json:"error"`
}

const notConnected = "Transport endpoint is not connected"

// deadContainer starts an unshare container (256 MiB) with the files of a procfsd on its own
// mountpoint bind-mounted over /proc, checks that it sees its limit, then kills that procfsd
// with SIGKILL while nothing else holds its descriptor, and waits until the container's reads
// fail with ENOTCONN: LXCFS's state after a crash.
func deadContainer(t *testing.T, mnt, state string) (*unshareContainer, *daemon) {
	t.Helper()
	d, c, shown := servedContainer(t, mnt, state, "R")
	d.kill(t)
	waitNotConnected(t, c)
	return c, shown
}

// servedContainer starts a procfsd on its own mountpoint and an unshare container (256 MiB)
// named name with that procfsd's files bind-mounted over /proc, and checks that the container
// sees its limit. shown is the daemon as the container's mounts name it.
func servedContainer(t *testing.T, mnt, state, name string) (d *restartable, c *unshareContainer, shown *daemon) {
	t.Helper()
	d = startRestartable(t, mnt, state, nil, nil)
	d.waitMounted(t)
	shown = &daemon{target: namedTarget(t, "procfsd"), mnt: mnt}
	cg := newCgroup(t, limits{memory: 256 << 20})
	c = newUnshareContainer(t, shown, name, cg, cg)
	checkReattachedMem(t, c, 256<<20)
	return d, c, shown
}

// waitNotConnected waits until reading /proc/meminfo in c fails with ENOTCONN.
func waitNotConnected(t *testing.T, c container) {
	t.Helper()
	poll(t, 10*time.Second, "ENOTCONN in the container after the crash", func() error {
		out, err := run(c, "cat", "/proc/meminfo")
		if err == nil || !strings.Contains(err.Error(), notConnected) {
			return notYet("cat /proc/meminfo: %v, output %q", err, firstLineOf([]byte(out)))
		}
		return nil
	})
}

// checkReattachedMem checks that meminfo in c shows mem.
func checkReattachedMem(t *testing.T, c container, mem uint64) {
	t.Helper()
	out := mustRun(t, c, "grep", "^MemTotal:", "/proc/meminfo")
	if got, want := strings.Join(strings.Fields(out), " "), fmt.Sprintf("MemTotal: %d kB", mem/1024); got != want {
		t.Fatalf("%s: %q, want %q", c, got, want)
	}
}

// readsAll reports the first virtual file that c cannot read, with the reason.
func readsAll(c container, files []string) error {
	for _, rel := range files {
		if _, err := run(c, "cat", "/"+rel); err != nil {
			return err
		}
	}
	return nil
}

// TestReattachAfterCrash: procfsd dies with nobody holding its descriptor, so the container's
// mounts answer ENOTCONN. A new procfsd on the same mountpoint must clear the dead mount there,
// mount afresh, and re-attach the container's mounts by itself: the container, never
// restarted, reads its own values again.
func TestReattachAfterCrash(t *testing.T) {
	mnt, state := restartDirs(t)
	c, shown := deadContainer(t, mnt, state)
	initStat := readFile(t, fmt.Sprintf("/proc/%d/stat", c.init))

	d2 := startRestartable(t, mnt, state, nil, nil)
	d2.waitMounted(t)
	poll(t, 20*time.Second, "container reads every file after the new daemon started", func() error {
		return readsAll(c, shown.virtualFiles())
	})
	checkReattachedMem(t, c, 256<<20)
	if got := readFile(t, fmt.Sprintf("/proc/%d/stat", c.init)); string(got[:40]) != string(initStat[:40]) {
		t.Errorf("the container's init changed: %q, then %q", initStat[:40], got[:40])
	}
	if got := procfsdMounts(t, mnt); len(got) != 1 {
		t.Errorf("procfsd mounts at %s: %q, want one (the dead one detached)", mnt, got)
	}
	if !d2.logged("detached dead mounts left by an earlier daemon") {
		t.Errorf("new daemon did not detach the dead mount; output:\n%s", d2.out)
	}
	for _, rel := range shown.virtualFiles() {
		if !d2.logged("reattached a dead mount", `"pid":`, `"target":"/`+rel+`"`) {
			t.Errorf("new daemon did not log re-attaching /%s; output:\n%s", rel, d2.out)
		}
	}
	d2.term(t)
	if got := procfsdMounts(t, mnt); len(got) != 0 {
		t.Errorf("after SIGTERM outside systemd: mounts %q at %s, want none", got, mnt)
	}
}

// TestReattachCommand: `procfsd reattach -o json` repairs a container whose mounts came from a
// daemon that died, using another, live daemon's mount, reports each repaired mount, and
// finds nothing to do when run again.
func TestReattachCommand(t *testing.T) {
	live := startDaemon(t, daemonOptions{})
	mnt, state := restartDirs(t)
	c, shown := deadContainer(t, mnt, state)
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", c.init))
	if err != nil {
		t.Fatal(err)
	}

	r := runReattach(t, live.mnt)
	fixed := map[string]bool{}
	for _, m := range r.Fixed {
		if m.MountNS == ns {
			fixed[m.Target] = true
			if m.File != m.Target && m.Target != mnt {
				t.Errorf("reattached %s with %s, want the same file", m.Target, m.File)
			}
		}
	}
	for _, m := range r.Failed {
		if m.MountNS == ns {
			t.Errorf("could not reattach %s in the container: %s", m.Target, m.Error)
		}
	}
	for _, rel := range shown.virtualFiles() {
		if !fixed["/"+rel] {
			t.Errorf("report does not list /%s of the container (%s) as reattached: %+v", rel, ns, r)
		}
	}
	if err := readsAll(c, shown.virtualFiles()); err != nil {
		t.Errorf("after procfsd reattach: %v", err)
	}
	checkReattachedMem(t, c, 256<<20)

	again := runReattach(t, live.mnt)
	for _, m := range append(again.Fixed, again.Failed...) {
		if m.MountNS == ns {
			t.Errorf("second run touched %s in the container again: %+v", m.Target, m)
		}
	}
	live.alive(t)
}

// runReattach runs `procfsd reattach -o json` with flags. Exit status 1 (some dead mount
// somewhere on the machine stays dead) still prints the report; the tests judge their own
// container's.
func runReattach(t *testing.T, mountpoint string, flags ...string) reattachReport {
	t.Helper()
	cmd := exec.Command(namedTarget(t, "procfsd").bin, append([]string{"reattach", "--mountpoint", mountpoint, "-o", "json"}, flags...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		t.Fatalf("procfsd reattach: %v; stderr: %s", err, stderr.String())
	}
	var r reattachReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("procfsd reattach -o json printed %q: %v; stderr: %s", out, err, stderr.String())
	}
	t.Logf("procfsd reattach: %d namespaces, %d live, %d fixed, %d failed, %d unanswered; stderr: %s",
		r.Namespaces, r.Live, len(r.Fixed), len(r.Failed), len(r.Unanswered), stderr.String())
	if r.Mountpoint != mountpoint {
		t.Errorf("report's mountpoint %q, want %q", r.Mountpoint, mountpoint)
	}
	return r
}

// TestReattachPodman: the same crash under a podman (runc) container, whose root is a
// pivot_root'ed tree and whose bind mounts are read-only: the new daemon re-attaches them in
// the container's own root, still read-only, and the container keeps running throughout.
func TestReattachPodman(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman: %v (make deps installs it)", err)
	}
	mnt, state := restartDirs(t)
	d1 := startRestartable(t, mnt, state, nil, nil)
	d1.waitMounted(t)
	shown := &daemon{target: namedTarget(t, "procfsd"), mnt: mnt}
	c := startRuntimeContainer(t, shown, podmanCLI, limits{memory: 256 << 20}, "--rootfs", rootfs(t))
	checkReattachedMem(t, c, 256<<20)
	pid := podmanPID(t, c)
	d1.kill(t)
	waitNotConnected(t, c)

	d2 := startRestartable(t, mnt, state, nil, nil)
	d2.waitMounted(t)
	files := append(append([]string{}, runcFiles...), onlineFile)
	poll(t, 20*time.Second, "podman container reads every file after the new daemon started", func() error {
		return readsAll(c, files)
	})
	checkReattachedMem(t, c, 256<<20)
	if got := podmanPID(t, c); got != pid {
		t.Errorf("the container's init changed from pid %s to %s", pid, got)
	}
	out := mustRun(t, c, "cat", "/proc/self/mountinfo")
	for _, rel := range files {
		found := false
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) > 5 && f[4] == "/"+rel && strings.Contains(l, "fuse.procfsd") {
				found = true
				if !strings.HasPrefix(f[5], "ro,") {
					t.Errorf("re-attached /%s is mounted %s, want read-only as podman mounted it", rel, f[5])
				}
			}
		}
		if !found {
			t.Errorf("no procfsd mount at /%s in the container's mountinfo", rel)
		}
	}
	d2.term(t)
}

func podmanPID(t *testing.T, c *runtimeContainer) string {
	t.Helper()
	args := append(append([]string{}, c.cli[1:]...), "inspect", "-f", "{{.State.Pid}}", c.name)
	out, err := exec.Command(c.cli[0], args...).Output()
	if err != nil {
		t.Fatalf("podman inspect: %v", err)
	}
	return strings.TrimSpace(string(out))
}
