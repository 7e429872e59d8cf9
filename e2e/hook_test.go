//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeBundle is an OCI bundle with a root filesystem that has the mount targets the hook
// needs (or not, to make a mount fail midway).
type fakeBundle struct {
	dir, rootfs string
	state       []byte // the OCI state for stdin
}

// newFakeBundle writes config.json (root.path "rootfs", the annotations) and a rootfs with
// every target the hook mounts on, except those in missing.
func newFakeBundle(t *testing.T, annotations map[string]string, missing ...string) *fakeBundle {
	t.Helper()
	dir := t.TempDir()
	b := &fakeBundle{dir: dir, rootfs: filepath.Join(dir, "rootfs")}
	targets := []string{"proc/cpuinfo", "proc/meminfo", "proc/stat", "proc/vmstat", "proc/loadavg", "proc/uptime",
		"proc/swaps", "proc/diskstats", "sys/devices/system/cpu/online"}
	skip := map[string]bool{}
	for _, m := range missing {
		skip[m] = true
	}
	for _, rel := range targets {
		if skip[rel] {
			continue
		}
		p := filepath.Join(b.rootfs, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(b.rootfs, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"ociVersion": "1.0.2", "root": map[string]any{"path": "rootfs"}, "annotations": annotations})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	b.state, _ = json.Marshal(map[string]any{"ociVersion": "1.0.2", "id": randomName("hook-"), "status": "creating",
		"pid": 1, "bundle": dir, "annotations": annotations})
	return b
}

// hookRun is one `procfsd hook` run in a private mount namespace of its own (as runc runs it
// in the container's), inside cgroup cg.
type hookRun struct {
	code   int
	stderr string
	mounts []string // procfsd mounts under the bundle in the hook's namespace, after it exited
}

// runHook runs the hook with stdin in a new mount namespace and reports, from that same
// namespace, what it left mounted under the bundle.
func runHook(t *testing.T, cg *cgroup, stdin []byte, bundle string, args ...string) hookRun {
	t.Helper()
	return startHook(t, cg, stdin, bundle, args...).wait(t)
}

// startedHook is a hook run in progress.
type startedHook struct {
	cmd            interface{ Wait() error }
	kill           func()
	stdout, stderr *bytes.Buffer
	bundle         string
	args           []string
}

func startHook(t *testing.T, cg *cgroup, stdin []byte, bundle string, args ...string) *startedHook {
	t.Helper()
	bin := namedTarget(t, "procfsd").bin
	script := fmt.Sprintf(`%s hook "$@" < %s; echo "rc=$?"; cat /proc/self/mountinfo`, shellQuote(bin), shellQuote(writeTemp(t, stdin)))
	cmd := gated(append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"}, args...)...)
	h := &startedHook{cmd: cmd, kill: func() { killGroup(cmd) }, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, bundle: bundle, args: args}
	cmd.Stdout, cmd.Stderr = h.stdout, h.stderr
	if err := startGated(cg, cmd); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *startedHook) wait(t *testing.T) hookRun {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hook shell: %v: %s", err, h.stderr.String())
		}
	case <-time.After(60 * time.Second):
		h.kill()
		<-done
		t.Fatalf("hook still running after 60s: %s", h.stderr.String())
	}
	var r hookRun
	r.stderr = h.stderr.String()
	lines := strings.Split(h.stdout.String(), "\n")
	code, ok := strings.CutPrefix(lines[0], "rc=")
	if !ok {
		t.Fatalf("hook output %q", h.stdout.String())
	}
	r.code, _ = strconv.Atoi(code)
	for _, l := range lines[1:] {
		pre, post, ok := strings.Cut(l, " - ")
		if f := strings.Fields(pre); ok && len(f) >= 5 && h.bundle != "" && strings.HasPrefix(f[4], h.bundle+"/") &&
			strings.HasPrefix(post, "fuse.procfsd ") {
			r.mounts = append(r.mounts, strings.TrimPrefix(f[4], h.bundle+"/rootfs/"))
		}
	}
	t.Logf("procfsd hook %v: exit %d, mounts %v, stderr %q", h.args, r.code, r.mounts, r.stderr)
	return r
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHookInputErrors: bad input fails with a clear one-line error and a non-zero exit (the
// runtime then fails the container); a daemon that is down lets the container start, unless
// --fail-closed; a mount that fails midway leaves nothing mounted (docs/behaviour.md §6).
func TestHookInputErrors(t *testing.T) {
	mnt, state := switchDirs(t)
	d := startCtlDaemon(t, mnt, state)
	cg := newCgroup(t, limits{memory: 256 << 20})
	flags := []string{"--mountpoint", mnt, "--state-dir", state}

	t.Run("good", func(t *testing.T) {
		b := newFakeBundle(t, nil)
		r := runHook(t, cg, b.state, b.dir, flags...)
		if r.code != 0 || len(r.mounts) < 10 {
			t.Errorf("exit %d, mounts %v; want 0 and the files plus run/procfsd", r.code, r.mounts)
		}
		for _, want := range []string{"proc/vmstat", "sys/devices/system/cpu/online", "run/procfsd"} {
			if !strings.Contains(strings.Join(r.mounts, " "), want) {
				t.Errorf("%s not mounted: %v", want, r.mounts)
			}
		}
	})
	t.Run("opted out", func(t *testing.T) {
		b := newFakeBundle(t, map[string]string{optOutKey: "false"})
		if r := runHook(t, cg, b.state, b.dir, flags...); r.code != 0 || len(r.mounts) != 0 {
			t.Errorf("exit %d, mounts %v; want 0 and none", r.code, r.mounts)
		}
		if e := d.list(t)[cg.path]; e.Source != "annotation" || e.Isolated {
			t.Errorf("ctl list after an opted-out registration: %+v", e)
		}
	})
	for _, tt := range []struct {
		name  string
		stdin func(b *fakeBundle) []byte
		want  string
	}{
		{"invalid JSON", func(*fakeBundle) []byte { return []byte(`{"id": "x", "bundle": `) }, "bad OCI state on stdin"},
		{"no id", func(b *fakeBundle) []byte { return []byte(`{"bundle":"` + b.dir + `"}`) }, "no container id"},
		{"missing bundle", func(b *fakeBundle) []byte { return []byte(`{"id":"x","bundle":"/nonexistent/bundle"}`) }, "read bundle of x"},
		{"missing rootfs", func(b *fakeBundle) []byte {
			os.RemoveAll(b.rootfs)
			return b.state
		}, "is not a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newFakeBundle(t, nil)
			r := runHook(t, cg, tt.stdin(b), b.dir, flags...)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want 1 and one line with %q", r.code, r.stderr, tt.want)
			}
			if len(r.mounts) != 0 {
				t.Errorf("mounts left: %v", r.mounts)
			}
		})
	}
	t.Run("mount fails midway", func(t *testing.T) {
		b := newFakeBundle(t, nil, "proc/swaps")
		r := runHook(t, cg, b.state, b.dir, flags...)
		if r.code != 1 || !strings.Contains(r.stderr, "proc/swaps") {
			t.Errorf("exit %d, stderr %q; want 1 naming proc/swaps", r.code, r.stderr)
		}
		if len(r.mounts) != 0 {
			t.Errorf("partial mounts left behind: %v", r.mounts)
		}
	})
	t.Run("symlinked target", func(t *testing.T) {
		// A container image whose /proc/stat is a symlink out of the rootfs must not get a
		// mount on the host file it points at.
		b := newFakeBundle(t, nil)
		outside := filepath.Join(t.TempDir(), "host-file")
		if err := os.WriteFile(outside, []byte("host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(b.rootfs, "proc/stat")
		if err := os.Remove(target); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, target); err != nil {
			t.Fatal(err)
		}
		r := runHook(t, cg, b.state, b.dir, flags...)
		if r.code != 1 || !strings.Contains(r.stderr, "resolves to") || len(r.mounts) != 0 {
			t.Errorf("exit %d, stderr %q, mounts %v; want 1, a refusal and no mounts", r.code, r.stderr, r.mounts)
		}
	})
	t.Run("daemon down", func(t *testing.T) {
		down := []string{"--mountpoint", mnt, "--state-dir", t.TempDir()}
		b := newFakeBundle(t, nil)
		r := runHook(t, cg, b.state, b.dir, down...)
		if r.code != 0 || !strings.Contains(r.stderr, "starts without procfsd") || len(r.mounts) != 0 {
			t.Errorf("fail-open: exit %d, stderr %q, mounts %v", r.code, r.stderr, r.mounts)
		}
		r = runHook(t, cg, b.state, b.dir, append(down, "--fail-closed")...)
		if r.code != 1 || !strings.Contains(r.stderr, "not reachable") || len(r.mounts) != 0 {
			t.Errorf("--fail-closed: exit %d, stderr %q, mounts %v", r.code, r.stderr, r.mounts)
		}
	})
	d.alive(t)
}

// TestMakeInstall: `make install` installs the binary and a hooks.d entry that podman and
// CRI-O accept (runtime-spec hooks: createContainer) and that points at that binary.
func TestMakeInstall(t *testing.T) {
	dest := t.TempDir()
	out, err := exec.Command("make", "-C", "..", "install", "DESTDIR="+dest, "PREFIX=/opt/procfsd").CombinedOutput()
	if err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	bin := filepath.Join(dest, "opt/procfsd/bin/procfsd")
	if out, err := exec.Command(bin, "hook", "-h").CombinedOutput(); err != nil || !strings.Contains(string(out), "-fail-closed") {
		t.Errorf("installed binary: hook -h: %v: %s", err, out)
	}
	b := readFile(t, filepath.Join(dest, "usr/share/containers/oci/hooks.d/procfsd.json"))
	var h struct {
		Version string `json:"version"`
		Hook    struct {
			Path string   `json:"path"`
			Args []string `json:"args"`
		} `json:"hook"`
		When   map[string]any `json:"when"`
		Stages []string       `json:"stages"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("installed hooks.d entry: %v", err)
	}
	if h.Version != "1.0.0" || h.Hook.Path != "/opt/procfsd/bin/procfsd" || len(h.Hook.Args) < 2 || h.Hook.Args[1] != "hook" ||
		len(h.Stages) != 1 || h.Stages[0] != "createContainer" || h.When["always"] != true {
		t.Errorf("installed hooks.d entry: %+v", h)
	}
}
