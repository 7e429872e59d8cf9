//go:build e2e

package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// What a burst of control clients and a crowd of open files cost the daemon: the control
// socket outlives running out of descriptors and serves a bounded number of clients at once,
// and an open file costs a bounded amount of memory (README "Switches and opt-out", "Design notes").

// ctlClientLimit is the daemon's bound on control connections served at once (fs.ctlClients).
const ctlClientLimit = 64

// stateDir is the --state-dir startDaemon gave d.
func (d *daemon) stateDir() string { return filepath.Join(filepath.Dir(d.mnt), "state") }

// openFDsOf counts the open descriptors of process pid.
func openFDsOf(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// dialIdle opens n connections to the control socket that send nothing; the test's cleanup
// closes any still open. Connections refused once the listen backlog is full are not counted.
func dialIdle(t *testing.T, d *daemon, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for range n {
		c, err := net.DialTimeout("unix", filepath.Join(d.stateDir(), "ctl.sock"), time.Second)
		if err != nil {
			continue
		}
		conns = append(conns, c)
	}
	t.Cleanup(func() { closeAll(conns) })
	if len(conns) == 0 {
		t.Fatalf("no connection to the control socket")
	}
	return conns
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// statusWithin runs `procfsd status` with the given client timeout.
func statusWithin(t *testing.T, d *daemon, timeout time.Duration) error {
	t.Helper()
	out, errOut, code := runProcfsd(t, "status", "--state-dir", d.stateDir(), "--timeout", timeout.String())
	if code != 0 {
		return fmt.Errorf("procfsd status: exit %d: %s", code, strings.TrimSpace(errOut))
	}
	if !strings.Contains(out, fmt.Sprint(d.pid())) {
		return fmt.Errorf("procfsd status: no daemon pid %d in %q", d.pid(), out)
	}
	return nil
}

// startCostDaemon starts a daemon and waits until its control socket answers: the socket
// listens a moment after the mount appears.
func startCostDaemon(t *testing.T) *daemon {
	t.Helper()
	d := startDaemon(t, daemonOptions{})
	poll(t, 10*time.Second, "control socket answers", func() error { return statusWithin(t, d, 2*time.Second) })
	return d
}

// TestHardeningCtlRecoversFromFlood: a flood of connections runs the daemon out of descriptors
// (its RLIMIT_NOFILE lowered to a few above what it uses), accept fails with EMFILE; once the
// flood is gone the control socket answers again, with the limit still low.
func TestHardeningCtlRecoversFromFlood(t *testing.T) {
	d := startCostDaemon(t)
	// Fewer free descriptors than control clients: the flood hits EMFILE before the bound.
	limit := uint64(openFDsOf(t, d.pid()) + 16)
	if err := unix.Prlimit(d.pid(), unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}, nil); err != nil {
		t.Fatalf("lower the daemon's RLIMIT_NOFILE: %v", err)
	}
	flood := dialIdle(t, d, 500)
	poll(t, 10*time.Second, "daemon out of descriptors", func() error {
		if n := openFDsOf(t, d.pid()); uint64(n) < limit {
			return notYet("%d open descriptors of %d", n, limit)
		}
		return nil
	})
	closeAll(flood)
	poll(t, 30*time.Second, "control socket answers after the flood", func() error {
		return statusWithin(t, d, 2*time.Second)
	})
	if !strings.Contains(strings.Join(d.logLines(), "\n"), "too many open files") {
		t.Errorf("no accept failure logged; the flood did not exhaust the descriptors:\n%s", tail(d.stderr.String(), 20))
	}
	if _, err := os.ReadFile(d.path("proc/meminfo")); err != nil {
		t.Errorf("read meminfo after the flood: %v", err)
	}
	d.alive(t)
}

// TestHardeningCtlDropsSilentClient: a client that connects and sends nothing is dropped after
// the connection deadline rather than held for as long as it likes.
func TestHardeningCtlDropsSilentClient(t *testing.T) {
	d := startCostDaemon(t)
	c := dialIdle(t, d, 1)[0]
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a silent client is still connected after 30s")
	}
	if err := statusWithin(t, d, 5*time.Second); err != nil {
		t.Error(err)
	}
}

// TestHardeningCtlBoundsClients: silent clients beyond the bound wait in the listen backlog
// without a descriptor of the daemon each, and a status call queued behind them is answered.
func TestHardeningCtlBoundsClients(t *testing.T) {
	d := startCostDaemon(t)
	base := openFDsOf(t, d.pid())
	dialIdle(t, d, 2*ctlClientLimit)
	poll(t, 10*time.Second, "the bound of clients reached", func() error {
		if n := openFDsOf(t, d.pid()) - base; n < ctlClientLimit {
			return notYet("%d connections accepted", n)
		}
		return nil
	})
	// While status waits its turn, sample the daemon's descriptors.
	answered := make(chan error, 1)
	go func() { answered <- statusWithin(t, d, 30*time.Second) }()
	most := 0
	for done := false; !done; {
		most = max(most, openFDsOf(t, d.pid()))
		select {
		case err := <-answered:
			if err != nil {
				t.Errorf("status behind %d silent clients: %v", 2*ctlClientLimit, err)
			}
			done = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	// A few descriptors of slack: the daemon's own reads (state file, cgroup files).
	if most-base > ctlClientLimit+4 {
		t.Errorf("the daemon held %d more descriptors with %d silent clients; the bound is %d clients",
			most-base, 2*ctlClientLimit, ctlClientLimit)
	}
}

// helperHoldMany opens each FILE N times and reads every open file whole (pread from 0 to EOF),
// prints "@held", and holds them all open until it is killed.
func helperHoldMany(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: holdmany N FILE...")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	var held []*os.File
	for _, name := range args[1:] {
		for range n {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("after %d open files: %w", len(held), err)
			}
			held = append(held, f)
			if b, err := preadAll(f); err != nil || len(b) == 0 {
				return fmt.Errorf("read %s: %d bytes, %v", name, len(b), err)
			}
		}
	}
	fmt.Printf("%d@held\n", len(held))
	time.Sleep(10 * time.Minute) // killed by the test; the bound is for a test that died
	return errors.New("not killed within 10 minutes")
}

// vmRSS is the resident set of process pid, in bytes (VmRSS in /proc/<pid>/status).
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// settledRSS waits until the daemon's resident set stops moving (the collector and the
// scavenger have caught up with what the last reads left) and returns it.
func settledRSS(t *testing.T, pid int) int64 {
	t.Helper()
	last := vmRSS(t, pid)
	steady := 0
	// poll looks every 50 ms: steady for 40 looks is steady for 2 s.
	poll(t, 60*time.Second, "daemon RSS settles", func() error {
		cur := vmRSS(t, pid)
		if d := cur - last; d > last/100 || -d > last/100 {
			steady, last = 0, cur
			return notYet("RSS moved to %d", cur)
		}
		if steady++; steady < 40 {
			return notYet("RSS steady %d times", steady)
		}
		return nil
	})
	return last
}

// Each file held open may grow the daemon by handleRSS: an open file is at most 128 bytes of
// heap (fs.TestHandleCost), and the collector lets the heap reach twice what is live. On top,
// once, the snapshots: at most 16 MiB (fs.snapshotBudget; 4 MiB for files read whole, as here)
// (README "Design notes").
const (
	handleRSS    = 512
	snapshotsRSS = 16 << 20
)

// startHolders starts procs processes in cg that each open every file each times, read them
// whole and hold them open, and waits until they all do.
func startHolders(t *testing.T, cg *cgroup, procs, each int, files []string) {
	t.Helper()
	for range procs {
		cmd := helperCommand(selfExe(t), "holdmany", append([]string{strconv.Itoa(each)}, files...)...)
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = w, w // a helper's error comes before the marker it never printed
		err = startGated(cg, cmd)
		w.Close()
		if err != nil {
			r.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { killGroup(cmd); cmd.Wait(); r.Close() })
		if out := readUntil(t, bufio.NewReader(r), fmt.Sprintf("%d@held", len(files)*each)); out != "" {
			t.Fatalf("holder: %s", out)
		}
	}
}

// TestHardeningHandleCost: processes of one container hold 20,000 open files of the daemon
// (meminfo, stat, cpuinfo and loadavg, each read whole), the second 10,000 once the first are
// held; each open file grows the daemon by at most the stated bound. Before the budget every
// open file kept its rendering: about 3.5 KB each.
func TestHardeningHandleCost(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	cg := newCgroup(t, limits{memory: 256 << 20})
	files := []string{d.path("proc/meminfo"), d.path("proc/stat"), d.path("proc/cpuinfo"), d.path("proc/loadavg")}
	const procs, each = 2, 1250 // 2 processes × 4 files × 1250 = 10,000 open files a step
	step := int64(procs * len(files) * each)
	before := settledRSS(t, d.pid())
	startHolders(t, cg, procs, each, files)
	mid := settledRSS(t, d.pid())
	startHolders(t, cg, procs, each, files)
	after := settledRSS(t, d.pid())
	t.Logf("daemon RSS %d → %d → %d kB, steps of %d open files: %d, then %d bytes each",
		before>>10, mid>>10, after>>10, step, (mid-before)/step, (after-mid)/step)
	if bound := snapshotsRSS + 2*step*handleRSS; after-before > bound {
		t.Errorf("%d open files grew the daemon by %d bytes; the bound is %d (16 MiB + %d each)",
			2*step, after-before, bound, handleRSS)
	}
	// By the second step the snapshots' budget is used up: what it adds is the files alone.
	if per := (after - mid) / step; per > handleRSS {
		t.Errorf("%d more open files grew the daemon by %d bytes each; the bound is %d", step, per, handleRSS)
	}
	if _, err := os.ReadFile(d.path("proc/meminfo")); err != nil {
		t.Errorf("read meminfo with %d files open: %v", 2*step, err)
	}
	d.alive(t)
}
