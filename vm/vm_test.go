package vm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// allSuites are the guest suites TestVM runs, in order (guest/suite-NAME.sh).
var allSuites = []string{"boot", "v2", "systemd", "podman", "e2e"}

// guestCPUs is the guest's CPU count; the suites' expected cpusets and counts assume it.
const guestCPUs = 4

// suiteBinaries are the binaries each suite needs on the share, built fresh for every run.
var suiteBinaries = map[string][]string{
	"v2":      {"procfsd"},
	"systemd": {"procfsd"},
	"podman":  {"procfsd"},
	"e2e":     {"procfsd", "e2e.test"},
}

// TestVM boots the disposable cgroup v2 node and runs the guest suites in it (PROCFSD_VM=1, as
// root; make vm-test). Each suite is a subtest carrying the guest's log. A missing tool, a failed
// image build, a guest that hangs past the bound or a runner that never finishes fails the test
// and prints the end of the serial console.
//
// Environment: PROCFSD_VM_SUITES (comma-separated subset of allSuites), PROCFSD_VM_CACHE (default
// <module>/build/vm), PROCFSD_VM_MIRROR (default: the host's apt mirror), PROCFSD_VM_TIMEOUT
// (bound on the boot and the suites, default 35m, cut to end a minute before go test's own
// -timeout so that the console log is still printed), PROCFSD_VM_ACCEL (tcg or kvm).
func TestVM(t *testing.T) {
	if os.Getenv("PROCFSD_VM") != "1" {
		t.Skip("boots a VM: run with PROCFSD_VM=1 as root (make vm-test)")
	}
	requireHost(t)
	suites := selectedSuites(t)
	cache := cacheDir(t)

	start := time.Now()
	img := buildImage(t, cache)
	t.Logf("image %s ready in %s", img.Dir, time.Since(start).Round(time.Second))

	run := filepath.Join(cache, "run")
	unlock, err := lock(run + ".lock") // one run at a time owns cache/run
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	share := prepareShare(t, run, suites)
	m := Machine{
		Image:   img,
		Share:   share,
		Console: filepath.Join(run, "console.log"),
		Memory:  4096,
		CPUs:    guestCPUs,
		Accel:   os.Getenv("PROCFSD_VM_ACCEL"),
	}
	bound := envDuration(t, "PROCFSD_VM_TIMEOUT", 35*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if deadline, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-time.Minute))
		defer cancel()
	}
	boot := time.Now()
	runErr := m.Run(ctx)
	t.Logf("guest ran for %s; console log %s", time.Since(boot).Round(time.Second), m.Console)

	results, readErr := ReadResults(share, suites)
	for _, r := range results {
		t.Run(r.Suite, func(t *testing.T) {
			t.Logf("guest log of suite %s:\n%s", r.Suite, r.Log)
			switch r.Status {
			case 0:
			case -1:
				t.Errorf("suite %s reported no exit status", r.Suite)
			default:
				t.Errorf("suite %s exited %d", r.Suite, r.Status)
			}
		})
	}
	if err := errors.Join(runErr, readErr); err != nil {
		t.Fatalf("%v\nlast 100 lines of the serial console %s:\n%s", err, m.Console, Tail(m.Console, 100))
	}
}

// requireHost fails unless this machine can build and boot the node.
func requireHost(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("must run as root: debootstrap and mkfs.ext4 -d need to own the files they write")
	}
	for _, tool := range []string{"qemu-system-x86_64", "debootstrap", "mkfs.ext4", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (make vm-deps installs the host tools): %v", tool, err)
		}
	}
}

func selectedSuites(t *testing.T) []string {
	t.Helper()
	env := os.Getenv("PROCFSD_VM_SUITES")
	if env == "" {
		return allSuites
	}
	suites := strings.Split(env, ",")
	for _, s := range suites {
		if _, err := guestFiles.Open("guest/suite-" + s + ".sh"); err != nil {
			t.Fatalf("PROCFSD_VM_SUITES: no suite %q (have %v)", s, allSuites)
		}
	}
	return suites
}

func cacheDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("PROCFSD_VM_CACHE"); dir != "" {
		return dir
	}
	return filepath.Join(moduleRoot(t), "build", "vm")
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("find the module root: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// buildImage returns the cached image, building it first; the build log goes to cache/build.log.
func buildImage(t *testing.T, cache string) Image {
	t.Helper()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(cache, "build.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	mirror := os.Getenv("PROCFSD_VM_MIRROR")
	if mirror == "" {
		mirror = HostMirror("/etc/apt")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // cold: about 2 minutes
	defer cancel()
	img, err := BuildImage(ctx, cache, mirror, log)
	if err != nil {
		t.Fatalf("%v\nlast 40 lines of %s:\n%s", err, logPath, Tail(logPath, 40))
	}
	return img
}

// prepareShare empties run, then fills run/share with the guest scripts, the suite list and the
// freshly built binaries the suites need.
func prepareShare(t *testing.T, run string, suites []string) string {
	t.Helper()
	if err := os.RemoveAll(run); err != nil {
		t.Fatal(err)
	}
	share := filepath.Join(run, "share")
	if err := copyFS(share, guestFiles); err != nil {
		t.Fatal(err)
	}
	runner := filepath.Join(share, "run.sh") // where the image's procfsd-vm-boot looks for it
	if err := os.Rename(filepath.Join(share, "guest", "run.sh"), runner); err != nil {
		t.Fatal(err)
	}
	if err := WriteSuites(share, suites); err != nil {
		t.Fatal(err)
	}
	// What the project ships for an install: the unit and the podman/CRI-O hooks.d entries.
	root := moduleRoot(t)
	shipped, _ := filepath.Glob(filepath.Join(root, "systemd", "oci-hooks.d", "*.json"))
	shipped = append(shipped, filepath.Join(root, "systemd", "procfsd.service"))
	for _, src := range shipped {
		dst := filepath.Join(share, filepath.Base(src))
		if filepath.Ext(src) == ".json" {
			dst = filepath.Join(share, "hooks.d", filepath.Base(src))
		}
		copyShipped(t, src, dst)
	}
	// The e2e package reads repository files relative to its own directory (../testdata,
	// ../systemd): the guest runs it from a copy of those directories.
	if slices.Contains(suites, "e2e") {
		for _, dir := range []string{"testdata", "systemd"} {
			dst := filepath.Join(share, "src")
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("cp", "-a", filepath.Join(root, dir), dst).CombinedOutput(); err != nil {
				t.Fatalf("copy %s to the share: %v\n%s", dir, err, out)
			}
		}
	}
	built := map[string]bool{}
	for _, s := range suites {
		for _, bin := range suiteBinaries[s] {
			if !built[bin] {
				buildBinary(t, root, filepath.Join(share, "bin", bin))
				built[bin] = true
			}
		}
	}
	return share
}

// copyShipped copies src to dst; a src that does not exist (yet) is left out.
func copyShipped(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err == nil {
		err = os.MkdirAll(filepath.Dir(dst), 0o755)
	}
	if err == nil {
		err = os.WriteFile(dst, b, 0o644)
	}
	if err != nil {
		t.Fatalf("copy %s to the share: %v", src, err)
	}
}

// buildBinary builds procfsd, or the e2e test binary (with the e2e build tag, from its own module
// when e2e has a go.mod), static, for the guest.
func buildBinary(t *testing.T, root, out string) {
	t.Helper()
	dir, args := root, []string{"build", "-o", out, "./cmd/procfsd"}
	if filepath.Base(out) == "e2e.test" {
		args = []string{"test", "-c", "-tags", "e2e", "-o", out, "./e2e"}
		if _, err := os.Stat(filepath.Join(root, "e2e", "go.mod")); err == nil {
			dir, args[len(args)-1] = filepath.Join(root, "e2e"), "."
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, b)
	}
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 30m", name, v)
	}
	return d
}
