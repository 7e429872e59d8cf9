package fs

import (
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"
)

const nativeProc = "../testdata/native/proc"

func TestDetectNative(t *testing.T) {
	half := t.TempDir()
	os.MkdirAll(filepath.Join(half, "sys/kernel"), 0o755)
	os.WriteFile(filepath.Join(half, sysctlHost), []byte("0\n"), 0o644)
	dirs := t.TempDir()
	os.MkdirAll(filepath.Join(dirs, sysctlHost), 0o755)
	os.MkdirAll(filepath.Join(dirs, sysctlContainer), 0o755)
	for _, tt := range []struct {
		root string
		want bool
	}{
		{nativeProc, true},
		{hostProc, false},
		{half, false}, // stats_isolated alone: not the 4.14 feature (reference/tkernel.md §4)
		{dirs, false},
		{"/proc", false}, // this machine's kernel is not a TencentOS 2.4 one
	} {
		if got := DetectNative(tt.root); got != tt.want {
			t.Errorf("DetectNative(%s) = %v, want %v", tt.root, got, tt.want)
		}
	}
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTKernelHostSwitch(t *testing.T) {
	proc := copyTree(t, nativeProc)
	k := &TKernel{ProcRoot: proc, CgroupRoot: "/sys/fs/cgroup"}
	if on, err := k.HostIsolated(); err != nil || !on {
		t.Fatalf("HostIsolated = %v, %v; the fixture says 1", on, err)
	}
	if err := k.SetHost(false); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(proc, sysctlHost)); got != "0\n" {
		t.Errorf("sysctl after SetHost(false) = %q", got)
	}
	if on, err := k.HostIsolated(); err != nil || on {
		t.Errorf("HostIsolated after SetHost(false) = %v, %v", on, err)
	}
}

func TestHelperArgs(t *testing.T) {
	got := helperCgroupArgs(map[string]string{"memory": "/a", "cpu": "/a", "blkio": "/a", "cpuacct": "/a", "cpuset": "/a", "": "/a"})
	want := []string{"blkio=/a", "cpuacct=/a", "cpuset=/a", "memory=/a"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("helperCgroupArgs = %v, want %v", got, want)
	}
}

// recordingKernel is the TencentOS kernel of the fixture for the host switch (a real file
// write) and records the container switches it is asked to set; the helper itself is tested
// live on real cgroups in e2e/native_test.go.
type recordingKernel struct {
	TKernel
	mu    sync.Mutex
	calls []containerCall
}

type containerCall struct {
	paths map[string]string
	on    bool
}

func (k *recordingKernel) SetContainer(paths map[string]string, on bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, containerCall{paths, on})
	return nil
}

// TestNativeMode: on a native kernel procfsd never virtualizes, a host switch change lands in
// the sysctl, and a registered container that opts out has the kernel switch set from its
// cgroups; one that does not is left alone (SPEC §3).
func TestNativeMode(t *testing.T) {
	proc := copyTree(t, nativeProc)
	k := &recordingKernel{TKernel: TKernel{ProcRoot: proc}}
	srv, err := New(Config{ProcRoot: proc, CgroupRoot: "../testdata/native/cgroup", StatsIsolated: true,
		Kernel: k, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := srv.daemonStatus()
	if err != nil || st.Mode != ModeNative || !st.StatsIsolated {
		t.Fatalf("status = %+v, %v; want native, stats_isolated 1 from the sysctl", st, err)
	}
	if srv.isolated(ctr1) {
		t.Errorf("a native server virtualizes")
	}
	if resp := srv.handle(Request{Op: "set-host", Value: new(bool)}, os.Getpid()); resp.Error != "" {
		t.Fatal(resp.Error)
	}
	if got := readString(t, filepath.Join(proc, sysctlHost)); got != "0\n" {
		t.Errorf("sysctl after set-host 0 = %q", got)
	}

	// The fixture --proc-root has no /proc/<pid>, so the hook's reported cgroups are used.
	resp := srv.handle(Request{Op: "register", Name: "ctr1", Cgroup: ctr1.Paths,
		Annotations: map[string]string{OptOutKey: "false"}}, os.Getpid())
	if resp.Error != "" {
		t.Fatal(resp.Error)
	}
	if resp.Status.Mode != ModeNative || resp.Entry.Source != SourceAnnotation || resp.Entry.Isolated {
		t.Errorf("register reply: %+v %+v", resp.Status, resp.Entry)
	}
	want := []containerCall{{ctr1.Paths, false}}
	if !reflect.DeepEqual(k.calls, want) {
		t.Errorf("kernel calls = %+v, want %+v", k.calls, want)
	}
	resp = srv.handle(Request{Op: "register", Name: "ctr1", Cgroup: ctr1.Paths}, os.Getpid())
	if resp.Error != "" || len(k.calls) != 1 {
		t.Errorf("a container without the annotation: %q, kernel calls %+v", resp.Error, k.calls)
	}
	if e := srv.switches.get(ctr1.ID); e == nil || !e.Isolated || e.Source != SourceDefault || e.Mode != "" {
		t.Errorf("re-registered container: %+v, want the default", e)
	}
}

// TestNativeDetectedByNew: New finds the sysctls under --proc-root by itself and drives them
// with the configured helper.
func TestNativeDetectedByNew(t *testing.T) {
	srv, err := New(Config{ProcRoot: nativeProc, CgroupRoot: "../testdata/native/cgroup",
		NativeHelper: []string{"/usr/local/bin/procfsd", "native-helper"}, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	k, ok := srv.cfg.Kernel.(*TKernel)
	if !ok || k.ProcRoot != nativeProc || k.Helper[1] != "native-helper" {
		t.Errorf("Kernel = %#v, want a TKernel on the fixture", srv.cfg.Kernel)
	}
}
