package control

import (
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"

	"procfsd/ctlapi"
	"procfsd/internal/fixture"
	"procfsd/switches"
)

// recordingKernel is the TencentOS kernel of the fixture for the host switch (a real file
// write) and records the container switches it is asked to set; the helper itself is tested
// live on real cgroups in e2e/native_test.go.
type recordingKernel struct {
	switches.TKernel
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

// TestNativeMode: on a native kernel procfsd never virtualizes (status and the switches say so), a host switch change lands in
// the sysctl, and a registered container that opts out has the kernel switch set from its
// cgroups; one that does not is left alone (docs/behaviour.md §3).
func TestNativeMode(t *testing.T) {
	proc := fixture.CopyTree(t, "../testdata/native/proc")
	k := &recordingKernel{TKernel: switches.TKernel{ProcRoot: proc}}
	srv := newForTest(t, switches.Config{ProcRoot: proc, CgroupRoot: "../testdata/native/cgroup", StatsIsolated: true,
		Kernel: k, Logger: zaptest.NewLogger(t)})
	st, err := srv.daemonStatus()
	if err != nil || st.Mode != switches.ModeNative || !st.StatsIsolated {
		t.Fatalf("status = %+v, %v; want native, stats_isolated 1 from the sysctl", st, err)
	}
	if srv.switches.Isolated(fixture.Ctr1) {
		t.Errorf("a native server virtualizes")
	}
	if resp := srv.handle(ctlapi.Request{Op: "set-host", Value: new(bool)}, os.Getpid()); resp.Error != "" {
		t.Fatal(resp.Error)
	}
	if got := fixture.ReadString(t, filepath.Join(proc, "sys/kernel/stats_isolated")); got != "0\n" {
		t.Errorf("sysctl after set-host 0 = %q", got)
	}

	// The fixture --proc-root has no /proc/<pid>, so the hook's reported cgroups are used.
	resp := srv.handle(ctlapi.Request{Op: "register", Name: "ctr1", Cgroup: fixture.Ctr1.Paths,
		Annotations: map[string]string{switches.OptOutKey: "false"}}, os.Getpid())
	if resp.Error != "" {
		t.Fatal(resp.Error)
	}
	if resp.Status.Mode != switches.ModeNative || resp.Entry.Source != switches.SourceAnnotation || resp.Entry.Isolated {
		t.Errorf("register reply: %+v %+v", resp.Status, resp.Entry)
	}
	want := []containerCall{{fixture.Ctr1.Paths, false}}
	if !reflect.DeepEqual(k.calls, want) {
		t.Errorf("kernel calls = %+v, want %+v", k.calls, want)
	}
	resp = srv.handle(ctlapi.Request{Op: "register", Name: "ctr1", Cgroup: fixture.Ctr1.Paths}, os.Getpid())
	if resp.Error != "" || len(k.calls) != 1 {
		t.Errorf("a container without the annotation: %q, kernel calls %+v", resp.Error, k.calls)
	}
	if resp.Status == nil || resp.Status.Metrics == nil || resp.Status.Metrics.HookRegistrations != 2 {
		t.Errorf("status after two registrations: %+v, want metrics counting 2", resp.Status)
	}
	if e := srv.switches.Get(fixture.Ctr1.ID); e == nil || !e.Isolated || e.Source != switches.SourceDefault || e.Mode != "" {
		t.Errorf("re-registered container: %+v, want the default", e)
	}
}
