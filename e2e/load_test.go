//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelReaders has 64 readers (host callers and two containers) read every file for 10 s:
// no errors, no empty or cut files, and afterwards no growth of the daemon's fds or threads.
func TestParallelReaders(t *testing.T) {
	h := readHost(t)
	d := startDaemon(t, daemonOptions{})
	la, lb := limits{memory: 256 << 20, cpus: "0"}, limits{memory: 1 << 30}
	ca, cb := newCgroup(t, la), newCgroup(t, lb)
	a := newUnshareContainer(t, d, "A", ca, ca)
	b := newUnshareContainer(t, d, "B", cb, cb)
	files := d.virtualFiles()

	load := func(dur time.Duration) {
		t.Helper()
		var wg sync.WaitGroup
		var reads, failures atomic.Int64
		stop := time.Now().Add(dur)
		// 48 host readers in this process (open, read, close).
		for i := range 48 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := i; time.Now().Before(stop); j++ {
					rel := files[j%len(files)]
					body, err := os.ReadFile(d.path(rel))
					reads.Add(1)
					if err != nil || len(body) == 0 || !bytes.HasSuffix(body, []byte("\n")) {
						if failures.Add(1) <= 5 {
							t.Errorf("host read %s: %v, %d bytes", rel, err, len(body))
						}
					}
				}
			}()
		}
		// 8 shell readers in each container.
		for _, c := range []container{a, b} {
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					script := `end=$(( $(date +%s) + ` + strconv.Itoa(int(dur.Seconds())) + ` ))
while [ $(date +%s) -lt $end ]; do
	for f in /proc/meminfo /proc/stat /proc/cpuinfo /proc/uptime /proc/loadavg /proc/vmstat /proc/swaps /proc/diskstats /sys/devices/system/cpu/online; do
		grep -q . "$f" || { echo "empty or unreadable: $f" >&2; exit 1; }
	done
done`
					if _, err := run(c, "sh", "-c", script); err != nil {
						failures.Add(1)
						t.Error(err)
					}
				}()
			}
		}
		wg.Wait()
		t.Logf("%d host reads in %v, %d failures", reads.Load(), dur, failures.Load())
	}

	// A first round lets the Go runtime reach its working set of threads; the second must not
	// leave more fds or threads than the first did once both settled.
	load(3 * time.Second)
	fds0, thr0 := settle(t, d)
	load(10 * time.Second)
	d.alive(t)
	checkFDsSettle(t, d, fds0)
	deadline := time.Now().Add(10 * time.Second)
	for threads(t, d.pid()) > thr0+2 {
		if time.Now().After(deadline) {
			t.Errorf("daemon has %d threads after the load, %d before", threads(t, d.pid()), thr0)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkMemTotal(t, a, expectView(t, h, la).memTotal)
	checkMemTotal(t, b, expectView(t, h, lb).memTotal)
}

// settle waits until the daemon's fd and thread counts hold still for a second and returns them.
func settle(t *testing.T, d *daemon) (fds, thr int) {
	t.Helper()
	fds, thr = countFDs(t, d.pid()), threads(t, d.pid())
	stableSince := time.Now()
	deadline := time.Now().Add(15 * time.Second)
	for time.Since(stableSince) < time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("daemon fds/threads never settled (%d fds, %d threads)", fds, thr)
		}
		time.Sleep(100 * time.Millisecond)
		f, th := countFDs(t, d.pid()), threads(t, d.pid())
		if f != fds || th != thr {
			fds, thr, stableSince = f, th, time.Now()
		}
	}
	return fds, thr
}
