package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRequestTimeoutWarning: the kernel's timeout for a connection that asks for none is the
// default capped by the maximum, or the maximum alone (fs/fuse/inode.c, init_server_timeout);
// a warning is due when that is set and shorter than the pause.
func TestRequestTimeoutWarning(t *testing.T) {
	pause := 45*time.Second + 250*time.Millisecond
	tests := []struct {
		def, max uint32
		eff      time.Duration
		warn     bool
	}{
		{0, 0, 0, false},
		{5, 0, 5 * time.Second, true},
		{0, 5, 5 * time.Second, true},
		{60, 5, 5 * time.Second, true}, // the maximum caps the default
		{5, 600, 5 * time.Second, true},
		{600, 30, 30 * time.Second, true},
		{45, 0, 45 * time.Second, true},
		{46, 0, 46 * time.Second, false},
		{0, 600, 600 * time.Second, false},
		{600, 0, 600 * time.Second, false},
	}
	for _, tt := range tests {
		rt := requestTimeouts{Default: tt.def, Max: tt.max}
		if got := rt.effective(); got != tt.eff {
			t.Errorf("effective(default %d, max %d) = %v, want %v", tt.def, tt.max, got, tt.eff)
		}
		w := requestTimeoutWarning(rt, pause)
		if (w != "") != tt.warn {
			t.Errorf("warning(default %d, max %d) = %q, want a warning: %v", tt.def, tt.max, w, tt.warn)
		}
		if tt.warn && (!strings.Contains(w, tt.eff.String()) || !strings.Contains(w, "ENOTCONN") || !strings.Contains(w, "at least 46")) {
			t.Errorf("warning(default %d, max %d) = %q: want the timeout %v, ENOTCONN and the least safe value 46", tt.def, tt.max, w, tt.eff)
		}
	}
}

func TestReadRequestTimeouts(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := readRequestTimeouts(dir); ok || err != nil {
		t.Errorf("a kernel without the sysctls: ok %v, err %v; want neither", ok, err)
	}
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("default_request_timeout", "5\n")
	write("max_request_timeout", "600\n")
	got, ok, err := readRequestTimeouts(dir)
	if want := (requestTimeouts{Default: 5, Max: 600}); !ok || err != nil || got != want {
		t.Errorf("readRequestTimeouts = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	write("max_request_timeout", "x\n")
	if _, _, err := readRequestTimeouts(dir); err == nil || !strings.Contains(err.Error(), "fs.fuse.max_request_timeout") {
		t.Errorf("unparsable max_request_timeout: error %v, want one naming it", err)
	}
}

// TestSystemdRestartPause: the pause computed for systemd is the unit's watchdog, stop timeout
// and restart delay, so that a change to the unit cannot leave it stale.
func TestSystemdRestartPause(t *testing.T) {
	b, err := os.ReadFile("../../systemd/procfsd.service")
	if err != nil {
		t.Fatal(err)
	}
	var sum time.Duration
	for _, key := range []string{"WatchdogSec", "TimeoutStopSec", "RestartSec"} {
		found := false
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, key+"="); ok {
				d, err := time.ParseDuration(v)
				if err != nil {
					t.Fatalf("%s=%s: %v", key, v, err)
				}
				sum += d
				found = true
			}
		}
		if !found {
			t.Fatalf("no %s= in procfsd.service", key)
		}
	}
	if sum != systemdRestartPause {
		t.Errorf("procfsd.service: WatchdogSec+TimeoutStopSec+RestartSec = %v, systemdRestartPause = %v", sum, systemdRestartPause)
	}
	if longestPause != systemdRestartPause {
		t.Errorf("longestPause = %v, want the systemd restart's %v, the longest", longestPause, systemdRestartPause)
	}
}
