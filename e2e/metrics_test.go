//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMetrics: with --metrics-address, /metrics counts a container's reads of /proc/meminfo
// and their render times, `status -o json` shows the same count, and a second daemon given the
// same address stops with one line before it mounts or creates anything (docs/behaviour.md §1.4).
func TestMetrics(t *testing.T) {
	mnt, state := switchDirs(t)
	d := startCtlDaemon(t, mnt, state, "--metrics-address", "127.0.0.1:0")
	addr := metricsAddress(t, d.daemon)

	const series = `{file="meminfo",tree="shared"}`
	reads0 := scrape(t, addr, "procfsd_reads_total"+series)
	renders0 := scrape(t, addr, "procfsd_render_seconds_count"+series)

	const n = 20
	cg := newCgroup(t, limits{memory: 256 << 20})
	c := newUnshareContainer(t, d.daemon, "A", cg, cg)
	mustRun(t, c, "sh", "-c", fmt.Sprintf("for i in $(seq %d); do cat /proc/meminfo >/dev/null; done", n))

	reads := scrape(t, addr, "procfsd_reads_total"+series)
	if reads < reads0+n {
		t.Errorf("procfsd_reads_total%s = %v after %d reads, was %v", series, reads, n, reads0)
	}
	if renders := scrape(t, addr, "procfsd_render_seconds_count"+series); renders < renders0+n {
		t.Errorf("procfsd_render_seconds_count%s = %v after %d reads, was %v", series, renders, n, renders0)
	}
	var st struct {
		Metrics struct {
			Files []struct {
				File  string `json:"file"`
				Tree  string `json:"tree"`
				Reads uint64 `json:"reads"`
			} `json:"files"`
		} `json:"metrics"`
	}
	out := d.mustCtl(t, "status", "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json: %v: %q", err, out)
	}
	after := scrape(t, addr, "procfsd_reads_total"+series)
	var shown float64 = -1
	for _, f := range st.Metrics.Files {
		if f.File == "meminfo" && f.Tree == "shared" {
			shown = float64(f.Reads)
		}
	}
	if shown < reads || shown > after {
		t.Errorf("status shows %v reads of meminfo, want between the scrapes' %v and %v:\n%s", shown, reads, after, out)
	}

	// The same address again: one line, exit 1, no mount, no state directory.
	dir := t.TempDir()
	mnt2, state2 := filepath.Join(dir, "mnt"), filepath.Join(dir, "state")
	stdout, stderr, code := runProcfsd(t, "serve", "--mountpoint", mnt2, "--state-dir", state2,
		"--metrics-address", addr)
	if code != 1 || stdout != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
		!strings.Contains(stderr, "address already in use") {
		t.Errorf("second daemon on %s: exit %d, stdout %q, stderr %q; want exit 1 and one line", addr, code, stdout, stderr)
	}
	for _, p := range []string{mnt2, state2} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("second daemon left %s: %v", p, err)
		}
	}
	// A non-loopback address without --metrics-allow-remote is bad usage.
	if _, stderr, code := runProcfsd(t, "serve", "--mountpoint", mnt2, "--state-dir", state2,
		"--metrics-address", "0.0.0.0:0"); code != 2 {
		t.Errorf("--metrics-address 0.0.0.0:0: exit %d (%q), want 2", code, stderr)
	}
}

// TestMetricsHandover: after SIGHUP the successor binds the same address again (the exec
// closed the predecessor's socket) and counts the handover.
func TestMetricsHandover(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	mnt, state := switchDirs(t)
	d := startCtlDaemon(t, mnt, state, "--metrics-address", addr)
	if v := scrapeWhenUp(t, addr, "procfsd_handovers_total"); v != 0 {
		t.Fatalf("procfsd_handovers_total = %v at a first start, want 0", v)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll(t, 20*time.Second, "the successor counts its handover", func() error {
		if v, err := scrapeOnce(addr, "procfsd_handovers_total"); err != nil || v != 1 {
			return notYet("procfsd_handovers_total = %v, %v", v, err)
		}
		return nil
	})
	if v := scrapeWhenUp(t, addr, "procfsd_crash_recoveries_total"); v != 0 {
		t.Errorf("procfsd_crash_recoveries_total = %v after a handover, want 0", v)
	}
}

// scrapeWhenUp is scrape once the address answers.
func scrapeWhenUp(t *testing.T, addr, series string) float64 {
	t.Helper()
	var v float64
	poll(t, 10*time.Second, "scrape "+addr, func() (err error) {
		v, err = scrapeOnce(addr, series)
		return err
	})
	return v
}

// metricsAddress is the address the daemon logged it serves metrics on.
func metricsAddress(t *testing.T, d *daemon) string {
	t.Helper()
	var addr string
	poll(t, 10*time.Second, "serving metrics logged", func() error {
		for _, l := range d.logLines() {
			var e struct{ Msg, Address string }
			if json.Unmarshal([]byte(l), &e) == nil && e.Msg == "serving metrics" {
				addr = e.Address
				return nil
			}
		}
		return notYet("no \"serving metrics\" line in:\n%s", tail(d.stderr.String(), 5))
	})
	return addr
}

// scrape fetches /metrics from addr and returns the value of the sample named series.
func scrape(t *testing.T, addr, series string) float64 {
	t.Helper()
	v, err := scrapeOnce(addr, series)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func scrapeOnce(addr, series string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scrape: %s, %v", resp.Status, err)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("scrape: no %s in:\n%s", series, body)
}
