//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hoDaemon is a procfsd started from a private copy of the binary, so that an upgrade can
// replace the file it runs from, with its state dir known to the test.
type hoDaemon struct {
	*daemon
	dir, bin, state string
}

// startHoDaemon starts `procfsd serve` (with --supervise if asked) and waits until the server
// has recorded that it is ready.
func startHoDaemon(t *testing.T, supervise bool) *hoDaemon {
	t.Helper()
	tg := currentTarget(t)
	if tg.name != "procfsd" {
		t.Fatalf("handover tests need procfsd, not %s", tg.name)
	}
	// Not procfsd-e2e-: TestMain detaches such mounts as leaks when it ends, which would cut
	// this daemon's mount if another run of the suite ends meanwhile. stop checks the unmount.
	dir, err := os.MkdirTemp("", "procfsd-ho-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &hoDaemon{dir: dir, bin: filepath.Join(dir, "procfsd"), state: filepath.Join(dir, "state")}
	copyFile(t, tg.bin, h.bin)
	mnt := filepath.Join(dir, "mnt")
	args := []string{"serve", "--mountpoint", mnt, "--state-dir", h.state, "--loadavg-interval", "1s",
		"--log-format", "json", "--log-level", "info"}
	if supervise {
		args = append(args, "--supervise")
	}
	d := &daemon{target: tg, mnt: mnt, stderr: &syncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(h.bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.stderr, d.stderr
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			t.Logf("procfsd output, last lines:\n%s", tail(d.stderr.String(), 40))
		}
	})
	h.daemon = d
	poll(t, 20*time.Second, "daemon ready", func() error {
		select {
		case <-d.done:
			t.Fatalf("procfsd exited (%v):\n%s", d.err, d.stderr)
		default:
		}
		if _, err := h.ready(); err != nil {
			return err
		}
		if !isMounted(t, mnt, tg.fstype) {
			return notYet("no mount at %s", mnt)
		}
		return nil
	})
	return h
}

// readyLine is what the serving process records under --state-dir: pid, generation, version.
type readyLine struct {
	pid, gen int
	version  string
}

func (h *hoDaemon) ready() (readyLine, error) {
	b, err := os.ReadFile(filepath.Join(h.state, "ready"))
	if err != nil {
		return readyLine{}, err
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return readyLine{}, fmt.Errorf("ready file %q", b)
	}
	var r readyLine
	r.pid, _ = strconv.Atoi(f[0])
	r.gen, _ = strconv.Atoi(f[1])
	r.version = f[2]
	return r, nil
}

// waitReadyChange polls until the ready line differs from before and returns the new one.
func (h *hoDaemon) waitReadyChange(t *testing.T, before readyLine, what string) readyLine {
	t.Helper()
	var now readyLine
	poll(t, 15*time.Second, what, func() error {
		h.alive(t)
		r, err := h.ready()
		if err != nil {
			return err
		}
		if r == before {
			return notYet("still %+v", r)
		}
		now = r
		return nil
	})
	return now
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// readerScript reads meminfo, loadavg, stat and uptime in a loop, one line per iteration:
// "ok N uptime user system idle" from that iteration's reads, or "ERR ..." for a failed or
// empty read.
const readerScript = `i=0
while :; do
	i=$((i+1))
	for f in meminfo loadavg; do
		c=$(cat /proc/$f) || echo "ERR cat $f"
		[ -n "$c" ] || echo "ERR empty $f"
	done
	s=$(cat /proc/stat) || echo "ERR cat stat"
	u=$(cat /proc/uptime) || echo "ERR cat uptime"
	set -- $u
	up=$1
	set -- $s
	echo "ok $i $up $2 $4 $5"
done`

// reader follows one container's reader loop: errors, progress and continuity of uptime and
// of the aggregate cpu line's user, system and idle.
type reader struct {
	name string
	mu   sync.Mutex
	iter int
	last time.Time
	// maxGap is the longest wait between two iterations: a bound on how long a read hung.
	maxGap  time.Duration
	errs    []string
	up      float64
	cpu     [3]uint64
	samples int
}

func (r *reader) consume(lines <-chan string) {
	for line := range lines {
		r.mu.Lock()
		r.line(line)
		r.mu.Unlock()
	}
}

func (r *reader) line(line string) {
	now := time.Now()
	f := strings.Fields(line)
	if len(f) != 6 || f[0] != "ok" {
		r.errs = append(r.errs, line)
		return
	}
	up, err1 := strconv.ParseFloat(f[2], 64)
	var cpu [3]uint64
	var err2 error
	for i := range 3 {
		if cpu[i], err2 = strconv.ParseUint(f[3+i], 10, 64); err2 != nil {
			break
		}
	}
	if err1 != nil || err2 != nil {
		r.errs = append(r.errs, "unparsable: "+line)
		return
	}
	if r.samples > 0 {
		if up < r.up {
			r.errs = append(r.errs, fmt.Sprintf("uptime went back: %.2f then %.2f", r.up, up))
		}
		for i, name := range []string{"user", "system", "idle"} {
			if cpu[i] < r.cpu[i] {
				r.errs = append(r.errs, fmt.Sprintf("stat cpu %s went back: %d then %d", name, r.cpu[i], cpu[i]))
			}
		}
		if gap := now.Sub(r.last); gap > r.maxGap {
			r.maxGap = gap
		}
	}
	r.iter, _ = strconv.Atoi(f[1])
	r.up, r.cpu, r.last = up, cpu, now
	r.samples++
}

func (r *reader) progress() (iter int, errs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.iter, append([]string(nil), r.errs...)
}

// readerFleet is one reader loop in each of n unshare containers.
type readerFleet []*reader

func startReaders(t *testing.T, d *daemon, n int) readerFleet {
	t.Helper()
	var fleet readerFleet
	for i := range n {
		cg := newCgroup(t, limits{memory: 256 << 20})
		name := fmt.Sprintf("C%02d", i)
		c := newUnshareContainer(t, d, name, cg, cg)
		lines, _ := background(t, c, "sh", "-c", readerScript)
		r := &reader{name: name}
		go r.consume(lines)
		fleet = append(fleet, r)
	}
	return fleet
}

// advanced waits until every reader finished at least two more iterations than it had at
// mark: none is hung. It fails the test at once if a reader reported an error.
func (f readerFleet) advanced(t *testing.T, mark []int, what string) {
	t.Helper()
	poll(t, 20*time.Second, what+": every reader makes progress", func() error {
		for i, r := range f {
			iter, errs := r.progress()
			if len(errs) > 0 {
				t.Fatalf("%s: reader %s: %d errors, first %q", what, r.name, len(errs), errs[0])
			}
			if iter < mark[i]+2 {
				return notYet("reader %s at iteration %d, was %d", r.name, iter, mark[i])
			}
		}
		return nil
	})
}

func (f readerFleet) mark() []int {
	m := make([]int, len(f))
	for i, r := range f {
		m[i], _ = r.progress()
	}
	return m
}

func (f readerFleet) report(t *testing.T) {
	t.Helper()
	var total int
	var worst time.Duration
	for _, r := range f {
		iter, errs := r.progress()
		total += iter
		r.mu.Lock()
		worst = max(worst, r.maxGap)
		r.mu.Unlock()
		for _, e := range errs {
			t.Errorf("reader %s: %s", r.name, e)
		}
	}
	t.Logf("%d readers: %d iterations of 4 reads, longest pause between iterations %v", len(f), total, worst)
	if worst > 10*time.Second {
		t.Errorf("a reader waited %v between two iterations: requests hung", worst)
	}
}

// TestHandoverSupervisedUnderLoad proves that restarts are invisible (docs/behaviour.md §5.1): 20
// containers read meminfo, stat, uptime and loadavg without pause while the daemon (under
// --supervise) goes through 50 SIGHUP handovers, 20 kill -9 of its server, and an upgrade to a
// freshly built binary of another version. Readers see no error, none hangs, and uptime and the
// stat counters never go back.
func TestHandoverSupervisedUnderLoad(t *testing.T) {
	h := startHoDaemon(t, true)
	fleet := startReaders(t, h.daemon, 20)
	fleet.advanced(t, fleet.mark(), "start")
	start := time.Now()

	for i := range 50 {
		before, err := h.ready()
		if err != nil {
			t.Fatal(err)
		}
		m := fleet.mark()
		if err := h.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		now := h.waitReadyChange(t, before, fmt.Sprintf("handover %d", i+1))
		if now.pid != before.pid || now.gen != before.gen+1 {
			t.Fatalf("handover %d: ready %+v after %+v; want the same pid, next generation", i+1, now, before)
		}
		fleet.advanced(t, m, fmt.Sprintf("handover %d", i+1))
	}
	t.Logf("50 handovers in %v", time.Since(start))

	start = time.Now()
	for i := range 20 {
		before, err := h.ready()
		if err != nil {
			t.Fatal(err)
		}
		m := fleet.mark()
		// Let the readers be mid-request when the server dies.
		fleet.advanced(t, m, fmt.Sprintf("before kill %d", i+1))
		if err := syscall.Kill(before.pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill server %d: %v", before.pid, err)
		}
		now := h.waitReadyChange(t, before, fmt.Sprintf("restart after kill %d", i+1))
		if now.pid == before.pid {
			t.Fatalf("kill %d: the same server %d still serves", i+1, now.pid)
		}
		fleet.advanced(t, fleet.mark(), fmt.Sprintf("kill %d", i+1))
	}
	t.Logf("20 kill -9 in %v", time.Since(start))

	version := randomName("e2e-upgrade-")
	newBin := filepath.Join(h.dir, "procfsd.new")
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", newBin, "./cmd/procfsd")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the new binary: %v\n%s", err, out)
	}
	if err := os.Rename(newBin, h.bin); err != nil {
		t.Fatal(err)
	}
	m := fleet.mark()
	up := exec.Command(h.bin, "upgrade", "--state-dir", h.state)
	out, err := up.CombinedOutput()
	if err != nil {
		t.Fatalf("procfsd upgrade: %v\n%s", err, out)
	}
	t.Logf("procfsd upgrade: %s", strings.TrimSpace(string(out)))
	r, err := h.ready()
	if err != nil || r.version != version {
		t.Fatalf("after the upgrade the server reports %+v (%v), want version %s", r, err, version)
	}
	fleet.advanced(t, m, "upgrade")
	h.alive(t)
	fleet.report(t)
	t.Logf("requests a killed server left in flight, answered from the journal by its successor: %d",
		strings.Count(h.stderr.String(), "answering a request left in flight"))
}

// TestHandoverPlainServe: without a supervisor, SIGHUP re-executes the server in the same
// process; host readers see no error, and SIGTERM afterwards still unmounts and exits 0.
func TestHandoverPlainServe(t *testing.T) {
	h := startHoDaemon(t, false)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	var reads int
	var errs []string
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			files := []string{"proc/meminfo", "proc/stat", "proc/uptime", "proc/loadavg"}
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				b, err := os.ReadFile(h.path(files[(i+j)%len(files)]))
				mu.Lock()
				reads++
				if err != nil || len(b) == 0 {
					errs = append(errs, fmt.Sprintf("%v (%d bytes)", err, len(b)))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 5 {
		before, err := h.ready()
		if err != nil {
			t.Fatal(err)
		}
		if err := h.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		now := h.waitReadyChange(t, before, fmt.Sprintf("handover %d", i+1))
		if now.pid != h.pid() || now.gen != before.gen+1 {
			t.Fatalf("handover %d: ready %+v, want pid %d generation %d", i+1, now, h.pid(), before.gen+1)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d host reads across 5 handovers, %d errors", reads, len(errs))
	for _, e := range errs[:min(len(errs), 5)] {
		t.Errorf("read: %s", e)
	}
}

// TestHandoverKeepsLoadavg: load averages carry over a handover and a kill -9. A server that
// started afresh would set all three to the current thread count; carried over, the 1-minute
// figure keeps its lead over the 15-minute one and the 15-minute one barely moves.
func TestHandoverKeepsLoadavg(t *testing.T) {
	h := startHoDaemon(t, true)
	cg := newCgroup(t, limits{memory: 256 << 20})
	c := newUnshareContainer(t, h.daemon, "L", cg, cg)
	read := func() loadavgLine {
		t.Helper()
		l, err := parseLoadavg([]byte(mustRun(t, c, "cat", "/proc/loadavg")))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	read() // the container's averages start here, at its current count
	for range 2 {
		_, stop := background(t, c, "sh", "-c", "while :; do :; done")
		defer stop()
	}
	var before loadavgLine
	poll(t, 30*time.Second, "1-minute load pulls ahead", func() error {
		before = read()
		if before.avg[0]-before.avg[2] < 0.05 {
			return notYet("loadavg %q", before.text)
		}
		return nil
	})
	check := func(what string) {
		t.Helper()
		after := read()
		t.Logf("%s: loadavg %q then %q", what, before.text, after.text)
		if after.avg[0]-after.avg[2] < 0.03 || after.avg[2] < before.avg[2]-0.02 || after.avg[2] > before.avg[2]+0.1 {
			t.Errorf("%s: loadavg %q after %q: the averages restarted", what, after.text, before.text)
		}
		before = after
	}

	r, err := h.ready()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	r = h.waitReadyChange(t, r, "handover")
	check("handover")

	// The history file is saved every --loadavg-interval (1 s here): let one save happen.
	poll(t, 5*time.Second, "history saved", func() error {
		fi, err := os.Stat(filepath.Join(h.state, "history.json"))
		if err != nil {
			return err
		}
		if time.Since(fi.ModTime()) > 500*time.Millisecond {
			return notYet("history.json is %v old", time.Since(fi.ModTime()))
		}
		return nil
	})
	if err := syscall.Kill(r.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitReadyChange(t, r, "restart after kill")
	check("kill -9")
}
