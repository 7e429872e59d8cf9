package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnitVerify runs systemd-analyze verify (Debian's systemd package, installed by make deps)
// on procfsd.service. verify also checks that every Exec command exists, so the copy it reads
// has ExecStart's /usr/local/bin/procfsd replaced by this test binary; nothing else changes.
// verify exits 0 on unknown keys, so any output at all fails the test.
func TestUnitVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze: %v (make deps installs Debian's systemd package)", err)
	}
	unit, err := os.ReadFile("procfsd.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/procfsd serve") {
		t.Fatalf("procfsd.service: no ExecStart=/usr/local/bin/procfsd serve line")
	}
	copyPath := filepath.Join(t.TempDir(), "procfsd.service")
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/procfsd", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestUnitSettings pins the settings the restart design depends on (docs/restarts.md, "Under
// systemd"): dropping one of them loses the connection on a restart or crash.
func TestUnitSettings(t *testing.T) {
	unit, err := os.ReadFile("procfsd.service")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, l := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.HasPrefix(l, "#") {
			got[k+"="+v] = true
			got[k] = true
		}
	}
	for _, want := range []string{"Type=notify", "NotifyAccess=main", "Restart=always", "OOMScoreAdjust=-1000",
		"FileDescriptorStoreMax=4", "KillMode=process", "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec", "ExecStopPost",
		"StartLimitIntervalSec=0"} {
		if !got[want] {
			t.Errorf("procfsd.service lacks %s", want)
		}
	}
	for _, bad := range []string{"PrivateTmp", "PrivateMounts", "ProtectSystem", "ProtectHome", "TemporaryFileSystem", "RootDirectory"} {
		if got[bad] {
			t.Errorf("procfsd.service sets %s: the mount would land in a private mount namespace", bad)
		}
	}
}

// TestUnitStopPost runs the unit's ExecStopPost script (with systemd's $$ and %n expanded) with
// systemctl and umount stand-ins on PATH that record what they were asked: only a real stop
// may unmount, not a crash and not the stop half of systemctl restart.
func TestUnitStopPost(t *testing.T) {
	unit, err := os.ReadFile("procfsd.service")
	if err != nil {
		t.Fatal(err)
	}
	var script string
	for _, l := range strings.Split(string(unit), "\n") {
		if rest, ok := strings.CutPrefix(l, "ExecStopPost=/bin/sh -c '"); ok {
			script = strings.TrimSuffix(rest, "'")
		}
	}
	if script == "" {
		t.Fatal("procfsd.service: no ExecStopPost=/bin/sh -c '...' line")
	}
	script = strings.NewReplacer("$$", "$", "%n", "procfsd.service").Replace(script)
	bin := t.TempDir()
	log := filepath.Join(bin, "umount.log")
	stub := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub("systemctl", `[ "$*" = "list-jobs --no-legend procfsd.service" ] || exit 3; printf '%s' "$JOBS"`)
	stub("umount", `echo "$*" >>`+log)
	tests := []struct {
		name, result, jobs string
		unmount            bool
	}{
		{"stop", "success", "", true},
		{"stop, its job listed", "success", "812 procfsd.service stop running\n", true},
		{"restart", "success", "812 procfsd.service restart running\n", false},
		{"crash", "signal", "", false},
		{"watchdog", "watchdog", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(log)
			cmd := exec.Command("/bin/sh", "-c", script)
			cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "SERVICE_RESULT=" + tt.result, "JOBS=" + tt.jobs}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ExecStopPost: %v\n%s", err, out)
			}
			got, _ := os.ReadFile(log)
			if want := "--lazy /var/lib/procfsd\n"; tt.unmount && string(got) != want {
				t.Errorf("umount ran with %q, want %q", got, want)
			} else if !tt.unmount && len(got) > 0 {
				t.Errorf("umount ran (%q) on a %s", got, tt.name)
			}
		})
	}
}
