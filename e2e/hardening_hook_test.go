//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hookMount is one fuse.procfsd mount the hook's mount namespace had after the hook exited.
type hookMount struct {
	point string
	opts  []string // per-mount options
}

// hookOutcome is one hook run: its exit code, its stderr, and the mounts of the daemon's files
// in its mount namespace other than the daemon's own mountpoint.
type hookOutcome struct {
	code   int
	stderr string
	mounts []hookMount
}

// runHookScript runs `procfsd hook ARGS` in a new private mount namespace inside cg, with stdin
// redirected as redirect says (a shell redirection such as "< FILE"), and reads that
// namespace's mountinfo once the hook has exited. Unlike runHook it keeps every mount of the
// daemon's files (its FUSE connection's device), wherever it landed.
func runHookScript(t *testing.T, cg *cgroup, mnt, redirect string, args ...string) hookOutcome {
	t.Helper()
	return runHookBatch(t, cg, mnt, redirect, 1, args...)[0]
}

// runHookBatch is runHookScript n times over from one shell, each run in a mount namespace of
// its own (the racer test runs the hook thousands of times).
func runHookBatch(t *testing.T, cg *cgroup, mnt, redirect string, n int, args ...string) []hookOutcome {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	// The hook writes nothing on stdout: its stderr goes there, ahead of its exit code.
	run := fmt.Sprintf(`%s hook "$@" %s 2>&1; echo "rc=$?"; cat /proc/self/mountinfo`,
		shellQuote(namedTarget(t, "procfsd").bin), redirect)
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do i=$((i+1)); unshare --mount --propagation private sh -c %s sh "$@"; echo "--end--"; done`,
		n, shellQuote(run))
	cmd := gated(append([]string{"sh", "-c", script, "sh"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := startGated(cg, cmd); err != nil {
		t.Fatal(err)
	}
	if err := waitGroup(cmd, 60*time.Second); err != nil {
		t.Fatalf("hook shell: %v: %s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Fatalf("hook shell: %s", stderr.String())
	}
	var out []hookOutcome
	for _, run := range strings.SplitAfter(stdout.String(), "--end--\n") {
		if run == "" {
			continue
		}
		var o hookOutcome
		before, after, ok := strings.Cut(run, "\nrc=")
		if !ok {
			if before, after, ok = strings.Cut(run, "rc="); !ok || before != "" {
				t.Fatalf("hook output %q", run)
			}
		} else {
			o.stderr = before + "\n"
		}
		lines := strings.Split(after, "\n")
		o.code, _ = strconv.Atoi(lines[0])
		for _, l := range lines[1:] {
			pre, _, ok := strings.Cut(l, " - ")
			f := strings.Fields(pre)
			if !ok || len(f) < 6 || f[2] != dev {
				continue
			}
			if p := unescapeMountinfo(f[4]); p != mnt {
				o.mounts = append(o.mounts, hookMount{point: p, opts: strings.Split(f[5], ",")})
			}
		}
		out = append(out, o)
	}
	if len(out) != n {
		t.Fatalf("%d hook runs reported, want %d: %q", len(out), n, stdout.String())
	}
	return out
}

func (o hookOutcome) String() string {
	return fmt.Sprintf("exit %d, stderr %q, mounts %v", o.code, o.stderr, o.mounts)
}

// oneLine reports whether s is a single line ending in a newline.
func oneLine(s string) bool { return strings.Count(s, "\n") == 1 && strings.HasSuffix(s, "\n") }

// under reports whether p is dir or below it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// TestHookRacedTarget: while a process swaps the rootfs's proc directory with a symlink to a
// host directory (renameat2 RENAME_EXCHANGE, in a loop), no run of the hook ever mounts
// anything outside the rootfs, a run that fails leaves no mount at all, and every file a run
// that succeeds mounts is read-only.
func TestHookRacedTarget(t *testing.T) {
	mnt, state := switchDirs(t)
	d := startCtlDaemon(t, mnt, state)
	cg := newCgroup(t, limits{memory: 256 << 20})
	b := newFakeBundle(t, nil)
	stdin := writeTemp(t, b.state)
	// The host directory has every file the hook mounts, so that a mount redirected there
	// succeeds and shows.
	host := filepath.Join(t.TempDir(), "host-proc")
	if err := os.MkdirAll(filepath.Join(host, "pressure"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cpuinfo", "meminfo", "stat", "vmstat", "loadavg", "uptime", "swaps", "diskstats"} {
		if err := os.WriteFile(filepath.Join(host, name), []byte("host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	proc, swap := filepath.Join(b.rootfs, "proc"), filepath.Join(b.rootfs, "swap")
	if err := os.Symlink(host, swap); err != nil {
		t.Fatal(err)
	}

	var exchanges atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := unix.Renameat2(unix.AT_FDCWD, proc, unix.AT_FDCWD, swap, unix.RENAME_EXCHANGE); err != nil {
				t.Errorf("rename exchange: %v", err)
				return
			}
			exchanges.Add(1)
		}
	}()
	stopRacer := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
		// Leave proc a directory again.
		if fi, err := os.Lstat(proc); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			unix.Renameat2(unix.AT_FDCWD, proc, unix.AT_FDCWD, swap, unix.RENAME_EXCHANGE)
		}
	})
	t.Cleanup(stopRacer)

	args := []string{"--mountpoint", mnt, "--state-dir", state}
	var runs, ok, failed int
	refusals := map[string]int{}
	check := func(o hookOutcome) {
		runs++
		for _, m := range o.mounts {
			if under(m.point, host) || !under(m.point, b.rootfs) {
				t.Errorf("run %d: a mount landed outside the rootfs, on %s: %v", runs, m.point, o)
			}
		}
		switch o.code {
		case 0:
			ok++
			for _, m := range o.mounts {
				if !strings.HasSuffix(m.point, "/run/procfsd") && !slices.Contains(m.opts, "ro") {
					t.Errorf("run %d: %s mounted %v, not read-only", runs, m.point, m.opts)
				}
			}
			if len(o.mounts) != 10 {
				t.Errorf("run %d: succeeded with %d mounts, want the 9 files and run/procfsd: %v", runs, len(o.mounts), o)
			}
		case 1:
			failed++
			refusals[o.stderr]++
			if len(o.mounts) != 0 || !oneLine(o.stderr) {
				t.Errorf("run %d: failed, want one line and no mount left: %v", runs, o)
			}
		default:
			t.Errorf("run %d: %v", runs, o)
		}
	}
	// At most 2000 runs or about 50 s, in batches of 50 runs from one shell.
	start := time.Now()
	for runs < 2000 && time.Since(start) < 50*time.Second && !t.Failed() {
		for _, o := range runHookBatch(t, cg, mnt, "< "+shellQuote(stdin), 50, args...) {
			check(o)
		}
	}
	stopRacer()
	t.Logf("%d hook runs in %v against %d exchanges: %d mounted, %d refused: %v", runs, time.Since(start).Round(time.Millisecond),
		exchanges.Load(), ok, failed, refusals)
	if ok == 0 {
		t.Errorf("no run mounted anything in %d runs: the race was never passed", runs)
	}
	d.alive(t)
}

// TestHookBadBundle: a relative root.path that leaves the bundle is refused; a config.json
// that is a FIFO is refused at once rather than waited on; a state on stdin that never ends is
// given up at the hook's deadline. Each fails with one line and mounts nothing.
func TestHookBadBundle(t *testing.T) {
	mnt, state := switchDirs(t)
	d := startCtlDaemon(t, mnt, state)
	cg := newCgroup(t, limits{memory: 256 << 20})
	args := []string{"--mountpoint", mnt, "--state-dir", state}

	t.Run("root.path leaves the bundle", func(t *testing.T) {
		// The bundle's sibling is a complete rootfs, so that a lexical join of root.path would mount
		// into it; ../../../.. (the host's /) is refused by the same rule (TestParseConfigConfined).
		b := newFakeBundle(t, nil)
		sibling := newFakeBundle(t, nil)
		rel, err := filepath.Rel(b.dir, sibling.rootfs)
		if err != nil {
			t.Fatal(err)
		}
		writeConfig(t, b, rel)
		o := runHookScript(t, cg, mnt, "< "+shellQuote(writeTemp(t, b.state)), args...)
		if o.code != 1 || !oneLine(o.stderr) || !strings.Contains(o.stderr, "leaves the bundle") || len(o.mounts) != 0 {
			t.Errorf("root.path %q: %v; want exit 1, one line saying it leaves the bundle, no mounts", rel, o)
		}
	})
	t.Run("config.json is a FIFO", func(t *testing.T) {
		b := newFakeBundle(t, nil)
		cfg := filepath.Join(b.dir, "config.json")
		if err := os.Remove(cfg); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mkfifo(cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		o := runHookScript(t, cg, mnt, "< "+shellQuote(writeTemp(t, b.state)), args...)
		if o.code != 1 || !oneLine(o.stderr) || !strings.Contains(o.stderr, "not a regular file") || len(o.mounts) != 0 {
			t.Errorf("%v; want exit 1, one line saying config.json is not a regular file, no mounts", o)
		}
	})
	t.Run("stdin never ends", func(t *testing.T) {
		// stdin is a FIFO the hook itself holds open for writing: its read never ends.
		fifo := filepath.Join(t.TempDir(), "stdin")
		if err := unix.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		o := runHookScript(t, cg, mnt, "<> "+shellQuote(fifo), args...)
		if o.code != 1 || !oneLine(o.stderr) || !strings.Contains(o.stderr, "deadline") || len(o.mounts) != 0 {
			t.Errorf("%v; want exit 1, one line naming the deadline, no mounts", o)
		}
	})
	d.alive(t)
}

// writeConfig rewrites b's config.json with root.path root.
func writeConfig(t *testing.T, b *fakeBundle, root string) {
	t.Helper()
	cfg, _ := json.Marshal(map[string]any{"ociVersion": "1.0.2", "root": map[string]any{"path": root}})
	if err := os.WriteFile(filepath.Join(b.dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHookStoppedDaemon: a daemon that is stopped (SIGSTOP: its socket still takes connections,
// nothing answers) lets the container start without procfsd's files, with one line; with
// --fail-closed the hook fails. Either way nothing is mounted.
func TestHookStoppedDaemon(t *testing.T) {
	mnt, state := switchDirs(t)
	d := startCtlDaemon(t, mnt, state)
	cg := newCgroup(t, limits{memory: 256 << 20})
	b := newFakeBundle(t, nil)
	stdin := "< " + shellQuote(writeTemp(t, b.state))
	args := []string{"--mountpoint", mnt, "--state-dir", state}

	if err := syscall.Kill(d.pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	cont := sync.OnceFunc(func() {
		if err := syscall.Kill(d.pid(), syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("SIGCONT procfsd: %v", err)
		}
	})
	t.Cleanup(cont) // runs before the daemon's own cleanup stops it

	o := runHookScript(t, cg, mnt, stdin, args...)
	if o.code != 0 || !oneLine(o.stderr) || !strings.Contains(o.stderr, "starts without procfsd's files") || len(o.mounts) != 0 {
		t.Errorf("fail-open: %v; want exit 0, one line, no mounts", o)
	}
	o = runHookScript(t, cg, mnt, stdin, append(args, "--fail-closed")...)
	if o.code != 1 || !oneLine(o.stderr) || !strings.Contains(o.stderr, "not reachable") || len(o.mounts) != 0 {
		t.Errorf("--fail-closed: %v; want exit 1, one line, no mounts", o)
	}
	cont()
	// Resumed, the daemon answers again.
	o = runHookScript(t, cg, mnt, stdin, args...)
	if o.code != 0 || o.stderr != "" || len(o.mounts) != 10 {
		t.Errorf("after SIGCONT: %v; want exit 0 and the mounts", o)
	}
	d.alive(t)
}
