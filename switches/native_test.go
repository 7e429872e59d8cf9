package switches

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"go.uber.org/zap/zaptest"

	"procfsd/internal/fixture"
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
		{half, false}, // stats_isolated alone: not the 4.14 feature
		{dirs, false},
		{"/proc", false}, // this machine's kernel is not a TencentOS 2.4 one
	} {
		if got := DetectNative(tt.root); got != tt.want {
			t.Errorf("DetectNative(%s) = %v, want %v", tt.root, got, tt.want)
		}
	}
}

func TestTKernelHostSwitch(t *testing.T) {
	proc := fixture.CopyTree(t, nativeProc)
	k := &TKernel{ProcRoot: proc, CgroupRoot: "/sys/fs/cgroup"}
	if on, err := k.HostIsolated(); err != nil || !on {
		t.Fatalf("HostIsolated = %v, %v; the fixture says 1", on, err)
	}
	if err := k.SetHost(false); err != nil {
		t.Fatal(err)
	}
	if got := fixture.ReadString(t, filepath.Join(proc, sysctlHost)); got != "0\n" {
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

// TestNativeDetectedByNew: Open finds the sysctls under --proc-root by itself and drives them
// with the configured helper.
func TestNativeDetectedByNew(t *testing.T) {
	srv := openForTest(t, Config{ProcRoot: nativeProc, CgroupRoot: "../testdata/native/cgroup",
		NativeHelper: []string{"/usr/local/bin/procfsd", "native-helper"}, Logger: zaptest.NewLogger(t)})
	k, ok := srv.cfg.Kernel.(*TKernel)
	if !ok || k.ProcRoot != nativeProc || k.Helper[1] != "native-helper" {
		t.Errorf("Kernel = %#v, want a TKernel on the fixture", srv.cfg.Kernel)
	}
}
