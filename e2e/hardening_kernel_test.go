//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// watchMode is a helper mode of the test binary (helperCommand's variable), handled here
// rather than in runHelper because init runs before TestMain: it reads FILE in a tight loop.
const watchMode = "watch-memtotal"

func init() {
	if os.Getenv(helperEnv) == watchMode {
		if err := helperWatchMemTotal(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// helperWatchMemTotal reads FILE (open, one read, close) as fast as it can, for ever, and
// sorts each read: the MemTotal WANT (kB) is "ok", ENOTCONN or ECONNABORTED (a dead mount) is
// "dead", another MemTotal is "other" (printed as "other <MemTotal line>"), and any other
// failure is "err" (printed as "err <error>"). Every 20 ms it prints the counts so far:
// "@ ok dead other err".
func helperWatchMemTotal(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: %s FILE WANT_KB", watchMode)
	}
	file := args[0]
	want := []byte("MemTotal: " + args[1] + " kB")
	var ok, dead, other, errs int
	printed := 0 // of "other" and "err" lines: at most 50, so that a flood cannot block the loop
	buf := make([]byte, 4096)
	last := time.Now()
	for i := 0; ; i++ {
		fd, err := syscall.Open(file, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		n := 0
		if err == nil {
			n, err = syscall.Read(fd, buf)
			syscall.Close(fd)
		}
		switch {
		case errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED):
			dead++
		case err != nil:
			errs++
			if printed++; printed <= 50 {
				fmt.Printf("err %v\n", err)
			}
		default:
			line, _, _ := bytes.Cut(buf[:max(n, 0)], []byte("\n"))
			if bytes.Equal(bytes.Join(bytes.Fields(line), []byte(" ")), want) {
				ok++
			} else {
				other++
				if printed++; printed <= 50 {
					fmt.Printf("other %s\n", line)
				}
			}
		}
		if i%64 == 0 && time.Since(last) >= 20*time.Millisecond {
			last = time.Now()
			fmt.Printf("@ %d %d %d %d\n", ok, dead, other, errs)
		}
	}
}

// memWatch follows a watch-memtotal helper's output.
type memWatch struct {
	mu                    sync.Mutex
	ok, dead, other, errs int
	samples               []string // its "other" and "err" lines
	ended                 bool
}

func startMemWatch(t *testing.T, c container, file string, wantKB uint64) (*memWatch, func()) {
	t.Helper()
	lines, stop := background(t, c, "env", helperEnv+"="+watchMode, selfExe(t), file, strconv.FormatUint(wantKB, 10))
	w := &memWatch{}
	go func() {
		for l := range lines {
			w.mu.Lock()
			if f := strings.Fields(l); len(f) == 5 && f[0] == "@" {
				w.ok, _ = strconv.Atoi(f[1])
				w.dead, _ = strconv.Atoi(f[2])
				w.other, _ = strconv.Atoi(f[3])
				w.errs, _ = strconv.Atoi(f[4])
			} else {
				w.samples = append(w.samples, l)
			}
			w.mu.Unlock()
		}
		w.mu.Lock()
		w.ended = true
		w.mu.Unlock()
	}()
	return w, stop
}

func (w *memWatch) counts() (ok, dead, other, errs int, samples []string, ended bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok, w.dead, w.other, w.errs, append([]string(nil), w.samples...), w.ended
}

// waitMore waits until the watcher has counted more reads of the kind get picks than it had.
func (w *memWatch) waitMore(t *testing.T, what string, get func(ok, dead int) int) {
	t.Helper()
	ok, dead, _, _, _, _ := w.counts()
	from := get(ok, dead)
	poll(t, 20*time.Second, what, func() error {
		ok, dead, other, errs, samples, ended := w.counts()
		if ended {
			t.Fatalf("the watcher in the container ended; its lines: %q", samples)
		}
		if get(ok, dead) <= from {
			return notYet("ok %d, dead %d, other %d, err %d", ok, dead, other, errs)
		}
		return nil
	})
}

// reattachUnderWatch runs rounds of crash and re-attach under a reader that reads the
// container's /proc/meminfo in a tight loop. Each round starts a new daemon (which serves
// before the old one dies, so its own start-up re-attach finds nothing to do), kills the one
// the container's mounts came from, waits until the reader sees ENOTCONN, runs `procfsd
// reattach` from the new daemon's mount with flags, and waits until the reader sees the
// container's MemTotal again. It returns the ways the reports gave for the container's
// /proc/meminfo and the watcher.
func reattachUnderWatch(t *testing.T, rounds int, flags ...string) ([]string, *memWatch) {
	mnt, state := restartDirs(t)
	cur, c, _ := servedContainer(t, mnt, state, "kernel")
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", c.init))
	if err != nil {
		t.Fatal(err)
	}
	w, stop := startMemWatch(t, c, "/proc/meminfo", 256<<10)
	w.waitMore(t, "the watcher reads the container's MemTotal", func(ok, _ int) int { return ok })

	var ways []string
	for i := range rounds {
		mnt, state := restartDirs(t)
		next := startRestartable(t, mnt, state, nil, nil)
		next.waitMounted(t)
		poll(t, 20*time.Second, "the new daemon's start-up re-attach", func() error {
			if !next.logged("reattach done") {
				return notYet("no \"reattach done\" yet")
			}
			return nil
		})
		cur.kill(t)
		w.waitMore(t, fmt.Sprintf("round %d: ENOTCONN in the container after the crash", i), func(_, dead int) int { return dead })
		r := runReattach(t, mnt, flags...)
		way, fixed := "", false
		for _, m := range r.Fixed {
			if m.MountNS == ns && m.Target == "/proc/meminfo" {
				way, fixed = m.Way, true
			}
		}
		if !fixed {
			t.Fatalf("round %d: the report does not list the container's /proc/meminfo as reattached: %+v", i, r)
		}
		ways = append(ways, way)
		w.waitMore(t, fmt.Sprintf("round %d: the container's MemTotal after re-attach", i), func(ok, _ int) int { return ok })
		checkReattachedMem(t, c, 256<<20)
		cur = next
	}
	stop()
	ok, dead, other, errs, samples, _ := w.counts()
	t.Logf("%d rounds: %d reads of the container's MemTotal, %d ENOTCONN, %d of another MemTotal, %d other failures; lines: %q",
		rounds, ok, dead, other, errs, samples)
	return ways, w
}

// TestReattachBeneathNeverShowsHost: on a kernel with MOVE_MOUNT_BENEATH (6.5), re-attach
// mounts the live file beneath the dead mount and then detaches that, so a reader in the
// container, reading /proc/meminfo in a tight loop through ten crashes and re-attaches, sees
// only ENOTCONN (before) and its own MemTotal (after), never the host's /proc/meminfo that the
// dead mount covers.
func TestReattachBeneathNeverShowsHost(t *testing.T) {
	ways, w := reattachUnderWatch(t, 10)
	for i, way := range ways {
		if way != "beneath" {
			t.Errorf("round %d: /proc/meminfo reattached %q, want \"beneath\" on this kernel", i, way)
		}
	}
	_, _, other, errs, samples, _ := w.counts()
	if other+errs > 0 {
		t.Errorf("the reader in the container read another MemTotal %d times and failed otherwise %d times during re-attach: %q",
			other, errs, samples)
	}
}

// TestReattachWithoutBeneath: with --no-beneath (what kernels before 6.5 get) re-attach
// detaches the dead mount first and then mounts the live file, and the container reads its
// own values again. In between the host's file shows; the test logs how often the reader
// caught it, which depends on timing and is not asserted.
func TestReattachWithoutBeneath(t *testing.T) {
	ways, w := reattachUnderWatch(t, 10, "--no-beneath")
	for i, way := range ways {
		if way != "replace" {
			t.Errorf("round %d: /proc/meminfo reattached %q with --no-beneath, want \"replace\"", i, way)
		}
	}
	_, _, other, errs, samples, _ := w.counts()
	if errs > 0 {
		t.Errorf("the reader in the container failed %d times other than ENOTCONN: %q", errs, samples)
	}
	t.Logf("the host's MemTotal showed in %d reads in the container between detach and mount", other)
}

// fuseSysctls are the kernel's FUSE request timeouts (Linux 6.15), machine-global.
var fuseSysctls = []string{"/proc/sys/fs/fuse/default_request_timeout", "/proc/sys/fs/fuse/max_request_timeout"}

// setRequestTimeouts sets the FUSE request timeouts (seconds, as the sysctls take them) and
// returns a function that puts back the values found, registered as a cleanup too. The
// values are the machine's: the caller restores them as soon as its daemon has read them,
// since every FUSE connection mounted meanwhile gets the timeout.
func setRequestTimeouts(t *testing.T, def, max string) (restore func()) {
	t.Helper()
	var old []string
	for _, p := range fuseSysctls {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			t.Skipf("%s: this kernel has no FUSE request timeouts (Linux 6.15), so there is nothing to warn about", p)
		}
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, strings.TrimSpace(string(b)))
	}
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		for i, p := range fuseSysctls {
			if err := os.WriteFile(p, []byte(old[i]+"\n"), 0o644); err != nil {
				t.Errorf("restore %s to %s: %v", p, old[i], err)
			}
		}
	}
	t.Cleanup(restore)
	for i, v := range []string{def, max} {
		if err := os.WriteFile(fuseSysctls[i], []byte(v+"\n"), 0o644); err != nil {
			t.Fatalf("set %s to %s: %v", fuseSysctls[i], v, err)
		}
	}
	t.Logf("FUSE request timeouts set to default %s, max %s (were %s, %s)", def, max, old[0], old[1])
	return restore
}

// TestFuseRequestTimeoutWarning: a FUSE request timeout shorter than the longest pause of a
// handover or restart (45.25 s, systemd's watchdog, stop timeout and restart delay) would let
// the kernel abort the connection mid-restart and fail every container with ENOTCONN; the
// daemon reads the sysctls at start, logs a warning and shows it in `procfsd status`. With the
// timeouts off, or long enough, it says nothing.
func TestFuseRequestTimeoutWarning(t *testing.T) {
	const logMsg = "FUSE request timeout shorter than a restart's pause"
	for _, tt := range []struct {
		name, def, max string
		warn           string // what the warning must say; "" for none
	}{
		{"default and max 5s", "5", "5", "fs.fuse.default_request_timeout=5, max_request_timeout=5"},
		{"max 5s caps a long default", "600", "5", "fs.fuse.default_request_timeout=600, max_request_timeout=5"},
		{"off", "0", "0", ""},
		{"long enough", "600", "0", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			restore := setRequestTimeouts(t, tt.def, tt.max)
			mnt, state := switchDirs(t)
			d := startCtlDaemon(t, mnt, state)
			restore() // the daemon read them before it mounted
			logged := countLogLines(d.daemon, logMsg)
			out := d.mustCtl(t, "status")
			var st struct {
				Warning string `json:"request_timeout_warning"`
			}
			if err := json.Unmarshal([]byte(d.mustCtl(t, "status", "-o", "json")), &st); err != nil {
				t.Fatal(err)
			}
			if tt.warn == "" {
				if logged != 0 || strings.Contains(out, "warning:") || st.Warning != "" {
					t.Errorf("timeouts %s/%s: warned (%d log lines, status %q, json %q), want silence; output:\n%s",
						tt.def, tt.max, logged, out, st.Warning, d.stderr)
				}
				return
			}
			if logged != 1 {
				t.Errorf("%d log lines %q, want 1; output:\n%s", logged, logMsg, d.stderr)
			}
			for _, l := range d.logLines() {
				if strings.Contains(l, logMsg) && !strings.Contains(l, `"default_request_timeout":`+tt.def) {
					t.Errorf("log line without the default timeout %s: %s", tt.def, l)
				}
			}
			line := ""
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "warning:") {
					line = l
				}
			}
			for _, want := range []string{tt.warn, "5s", "45.25s", "ENOTCONN"} {
				if !strings.Contains(line, want) || !strings.Contains(st.Warning, want) {
					t.Errorf("status warning %q (json %q) does not say %q", line, st.Warning, want)
				}
			}
		})
	}
}
