//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// What a burst of control clients and a crowd of open files cost the daemon: the control
// socket outlives running out of descriptors and serves a bounded number of clients at once,
// and an open file costs a bounded amount of memory (docs/behaviour.md §7.4, §7.1).

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

// socketsOf counts the sockets among the open descriptors of process pid: the control socket's
// connections, without the pipes of the short-lived children the daemon starts (its mount
// probes, the start-up re-attach), which come and go on their own schedule.
func socketsOf(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
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
	base := socketsOf(t, d.pid())
	dialIdle(t, d, 2*ctlClientLimit)
	poll(t, 10*time.Second, "the bound of clients reached", func() error {
		if n := socketsOf(t, d.pid()) - base; n < ctlClientLimit {
			return notYet("%d connections accepted", n)
		}
		return nil
	})
	// While status waits its turn, sample the daemon's descriptors.
	answered := make(chan error, 1)
	go func() { answered <- statusWithin(t, d, 30*time.Second) }()
	most := 0
	for done := false; !done; {
		most = max(most, socketsOf(t, d.pid()))
		select {
		case err := <-answered:
			if err != nil {
				t.Errorf("status behind %d silent clients: %v", 2*ctlClientLimit, err)
			}
			done = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	// One socket of slack: status's own connection once a slot is free.
	if most-base > ctlClientLimit+1 {
		t.Errorf("the daemon held %d more descriptors with %d silent clients; the bound is %d clients",
			most-base, 2*ctlClientLimit, ctlClientLimit)
	}
}

// helperHoldMany opens each FILE N times and reads every open file whole (pread from 0 to EOF),
// or with -partial its first byte only, prints "@held", and holds them all open until it is
// killed.
func helperHoldMany(args []string) error {
	partial := len(args) > 0 && args[0] == "-partial"
	if partial {
		args = args[1:]
	}
	if len(args) < 2 {
		return fmt.Errorf("usage: holdmany [-partial] N FILE...")
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
			var b []byte
			if partial {
				b = make([]byte, 1)
				_, err = f.ReadAt(b, 0)
			} else {
				b, err = preadAll(f)
			}
			if err != nil || len(b) == 0 {
				return fmt.Errorf("read %s: %d bytes, %v", name, len(b), err)
			}
		}
	}
	fmt.Printf("%d@held\n", len(held))
	time.Sleep(10 * time.Minute) // killed by the test; the bound is for a test that died
	return errors.New("not killed within 10 minutes")
}

// helperHoldChurn opens each FILE and reads its first byte, ROUNDS times or until the file STOP
// exists, and holds them all open until it is killed; after each round it waits until a fresh read
// of the first FILE differs from the last one, so that every round's renderings are new ones (the
// daemon shares a container's identical renderings: docs/read-path.md, "What an open file costs").
// It prints "N@held" after the last round.
func helperHoldChurn(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("usage: holdchurn ROUNDS STOP FILE...")
	}
	rounds, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	stop, files := args[1], args[2:]
	var held []*os.File
	var last []byte
	for range rounds {
		if _, err := os.Stat(stop); err == nil {
			break
		}
		for _, name := range files {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("after %d open files: %w", len(held), err)
			}
			held = append(held, f)
			if _, err := f.ReadAt(make([]byte, 1), 0); err != nil {
				return fmt.Errorf("read %s: %w", name, err)
			}
		}
		for deadline := time.Now().Add(10 * time.Second); ; {
			b, err := os.ReadFile(files[0])
			if err != nil {
				return err
			}
			if !bytes.Equal(b, last) {
				last = b
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s unchanged for 10 s", files[0])
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
// once, the snapshots of the one container (or the host PID namespace's callers, as here) that
// holds the files: at most its budget, 4 MiB (fs.containerSnapshotBudget; 1 MiB for files read
// whole, as here), twice over (docs/read-path.md, "What an open file costs").
const (
	handleRSS    = 512
	snapshotsRSS = 8 << 20
)

// holderPlace is where holders run: a container, or a test cgroup in the host PID namespace.
type holderPlace interface {
	command(args ...string) *exec.Cmd
	startCommand(cmd *exec.Cmd) error
}

// inCgroup runs commands in the host PID namespace, in cg.
type inCgroup struct{ cg *cgroup }

func (p inCgroup) command(args ...string) *exec.Cmd { return gated(args...) }
func (p inCgroup) startCommand(cmd *exec.Cmd) error { return startGated(p.cg, cmd) }

// startHolders starts procs processes in place that each open every file each times, read them
// (whole, or their first byte with partial) and hold them open, and waits until they all do.
func startHolders(t *testing.T, place holderPlace, procs, each int, partial bool, files []string) {
	t.Helper()
	args := []string{selfExe(t), strconv.Itoa(each)}
	if partial {
		args = []string{selfExe(t), "-partial", strconv.Itoa(each)}
	}
	for range procs {
		cmd := place.command(append(args, files...)...)
		cmd.Env = append(cmd.Env, helperEnv+"=holdmany")
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = w, w // a helper's error comes before the marker it never printed
		err = place.startCommand(cmd)
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

// TestHardeningHandleCost: processes of one cgroup hold 20,000 open files of the daemon
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
	startHolders(t, inCgroup{cg}, procs, each, false, files)
	mid := settledRSS(t, d.pid())
	startHolders(t, inCgroup{cg}, procs, each, false, files)
	after := settledRSS(t, d.pid())
	t.Logf("daemon RSS %d → %d → %d kB, steps of %d open files: %d, then %d bytes each",
		before>>10, mid>>10, after>>10, step, (mid-before)/step, (after-mid)/step)
	if bound := snapshotsRSS + 2*step*handleRSS; after-before > bound {
		t.Errorf("%d open files grew the daemon by %d bytes; the bound is %d (%d MiB + %d each)",
			2*step, after-before, bound, snapshotsRSS>>20, handleRSS)
	}
	// What the second step adds is the files, and at most what is left of the snapshots' budget.
	if per := (after - mid) / step; per > handleRSS {
		t.Errorf("%d more open files grew the daemon by %d bytes each; the bound is %d", step, per, handleRSS)
	}
	if _, err := os.ReadFile(d.path("proc/meminfo")); err != nil {
		t.Errorf("read meminfo with %d files open: %v", 2*step, err)
	}
	d.alive(t)
}

// helperSnapshotReader reads FILE, a meminfo, PASSES times with 16-byte reads of one open file
// each. Between a pass's first and second read it changes its own memory use by 64 MiB
// (mapping and touching it, or unmapping it) and waits until a fresh read of FILE shows the
// change. For each pass it prints "@pass FREE0 FREE1" (MemFree in kB before and after the
// change), the file as its 16-byte reads put it together, and "@end".
func helperSnapshotReader(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: snapreader FILE PASSES")
	}
	name := args[0]
	passes, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	var mem []byte
	for range passes {
		free0, err := memFreeOf(name)
		if err != nil {
			return err
		}
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		var got bytes.Buffer
		buf := make([]byte, 16)
		n, err := f.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			return fmt.Errorf("first read: %w", err)
		}
		if mem == nil {
			if mem, err = unix.Mmap(-1, 0, 64<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE); err != nil {
				return fmt.Errorf("map 64 MiB: %w", err)
			}
			for i := 0; i < len(mem); i += 4096 {
				mem[i] = 1
			}
		} else {
			if err := unix.Munmap(mem); err != nil {
				return fmt.Errorf("unmap 64 MiB: %w", err)
			}
			mem = nil
		}
		var free1 int64
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
			if free1, err = memFreeOf(name); err != nil {
				return err
			}
			if d := free1 - free0; d >= 32<<10 || -d >= 32<<10 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("MemFree still %d kB 20 s after a change of 64 MiB from %d kB", free1, free0)
			}
		}
		for {
			n, err := f.Read(buf)
			got.Write(buf[:n])
			if n == 0 || err != nil {
				break
			}
		}
		f.Close()
		fmt.Printf("@pass %d %d\n%s@end\n", free0, free1, got.Bytes())
	}
	return nil
}

// memFreeOf is MemFree in kB of a fresh read of the meminfo file name.
func memFreeOf(name string) (int64, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	free, ok := meminfoValues(string(b))["MemFree"]
	if !ok {
		return 0, fmt.Errorf("no MemFree in %q", b)
	}
	return free, nil
}

// meminfoValues maps each "Key: value [kB]" line of a meminfo to its value.
func meminfoValues(text string) map[string]int64 {
	out := map[string]int64{}
	for _, l := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// meminfoLine is one complete meminfo line: a key, its value, "kB" but for the HugePages_ counts.
var meminfoLine = regexp.MustCompile(`^([A-Za-z0-9_()]+):\s+([0-9]+)( kB)?$`)

// checkMeminfoShape reports what in text is not a whole meminfo with MemTotal total kB: a line
// cut or glued to another, a key twice.
func checkMeminfoShape(text string, total int64) error {
	if !strings.HasSuffix(text, "\n") {
		return fmt.Errorf("no newline at the end")
	}
	seen := map[string]bool{}
	for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		m := meminfoLine.FindStringSubmatch(l)
		if m == nil {
			return fmt.Errorf("line %d %q is not a meminfo line", i+1, l)
		}
		if seen[m[1]] {
			return fmt.Errorf("line %d: %s a second time", i+1, m[1])
		}
		seen[m[1]] = true
	}
	if got := meminfoValues(text)["MemTotal"]; got != total {
		return fmt.Errorf("MemTotal %d kB, want %d", got, total)
	}
	return nil
}

// TestHardeningSnapshotsPerContainer: container A holds 21,000 open meminfo files, each read
// partway (its first byte), more than a single budget shared by all containers (16 MiB) would
// hold; they share a few snapshots, so A also holds files opened while its renderings change, until
// the daemon logs A past its own budget. A reader in container B then reads meminfo with 16-byte
// reads while its own memory use changes by 64 MiB between its first read and the rest: each file
// it puts together must be whole, and the snapshot of its first read (docs/behaviour.md §1.2),
// however many files A holds open (docs/read-path.md, "What an open file costs"). With one budget
// for all containers, A's files would use it up and B's later offsets would be rendered afresh: a
// MemFree from after the change in every pass.
func TestHardeningSnapshotsPerContainer(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	cgA, cgB := newCgroup(t, limits{memory: 512 << 20}), newCgroup(t, limits{memory: 256 << 20})
	a := newUnshareContainer(t, d, "A", cgA, cgA)
	b := newUnshareContainer(t, d, "B", cgB, cgB)
	startHolders(t, a, 3, 7000, true, []string{"/proc/meminfo"}) // 3 processes: RLIMIT_NOFILE
	// Those share a few snapshots. A's files opened while its renderings change are as many
	// snapshots as renderings: they take A past its own budget, which the daemon logs.
	stop := filepath.Join(t.TempDir(), "stop")
	churn := a.command(selfExe(t), "3000", stop, "/proc/stat", "/proc/vmstat", "/proc/meminfo")
	churn.Env = append(churn.Env, helperEnv+"=holdchurn")
	var churnOut syncBuffer
	churn.Stdout, churn.Stderr = &churnOut, &churnOut
	if err := a.startCommand(churn); err != nil {
		t.Fatal(err)
	}
	churned := make(chan struct{})
	go func() { churn.Wait(); close(churned) }()
	t.Cleanup(func() { killGroup(churn); <-churned })
	pastBudget := func() bool {
		for _, l := range d.logLines() {
			if strings.Contains(l, "snapshots reached its budget") && strings.Contains(l, `"container":"`+cgA.path+`"`) {
				return true
			}
		}
		return false
	}
	poll(t, 3*time.Minute, "container A's files held open", func() error {
		if pastBudget() {
			if err := os.WriteFile(stop, nil, 0o644); err != nil {
				return err
			}
		}
		if strings.Contains(churnOut.String(), "@held") {
			return nil
		}
		select {
		case <-churned:
			return fmt.Errorf("A's files held open: %s", churnOut.String())
		default:
			return notYet("%s", tail(churnOut.String(), 1))
		}
	})
	t.Logf("container A holds 21,000 + %s open files", strings.TrimSuffix(strings.TrimSpace(churnOut.String()), "@held"))

	const passes = 6
	cmd := b.command(selfExe(t), "/proc/meminfo", strconv.Itoa(passes))
	cmd.Env = append(cmd.Env, helperEnv+"=snapreader")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := b.startCommand(cmd); err != nil {
		t.Fatal(err)
	}
	if err := waitGroup(cmd, 2*time.Minute); err != nil {
		t.Fatalf("reader in B: %v: %s", err, stderr.String())
	}

	total := int64(cgB.limits.memory >> 10)
	got := 0
	for _, pass := range strings.Split(stdout.String(), "@end\n") {
		head, text, ok := strings.Cut(pass, "\n")
		var free0, free1 int64
		if _, err := fmt.Sscanf(head, "@pass %d %d", &free0, &free1); !ok || err != nil {
			continue
		}
		got++
		if err := checkMeminfoShape(text, total); err != nil {
			t.Errorf("pass %d: the file 16-byte reads put together is torn: %v:\n%s", got, err, text)
			continue
		}
		// The first read's snapshot has MemFree from before the change.
		free := meminfoValues(text)["MemFree"]
		if d0, d1 := abs(free-free0), abs(free-free1); d0 >= d1 {
			t.Errorf("pass %d: MemFree %d kB, from after the change (%d kB before it, %d after): the reads after the first did not continue its snapshot",
				got, free, free0, free1)
		}
	}
	if got != passes {
		t.Errorf("%d passes of the reader in B, want %d:\n%s", got, passes, stdout.String())
	}
	if !pastBudget() {
		t.Errorf("the daemon did not log container A past its snapshot budget: B's reads did not face it")
	}
	d.alive(t)
}

func abs(x int64) int64 { return max(x, -x) }
