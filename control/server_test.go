package control

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"procfsd/ctlapi"
	"procfsd/internal/fixture"
	"procfsd/internal/testenv"
	"procfsd/switches"
)

// startCtlForTest serves the control socket of a server on the fixture cgroup tree.
func startCtlForTest(t *testing.T) (*Server, string) {
	t.Helper()
	testenv.RequireRoot(t) // the socket answers root only
	return startCtlWith(t, nil)
}

func call(t *testing.T, state string, req ctlapi.Request) *ctlapi.Response {
	t.Helper()
	resp, err := ctlapi.Call(state, req, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", req.Op, err)
	}
	return resp
}

func TestControlSocket(t *testing.T) {
	srv, state := startCtlForTest(t)
	fi, err := os.Stat(filepath.Join(state, ctlapi.SocketName))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket: %v, mode %v; want a 0600 socket", err, fi.Mode())
	}
	if r := call(t, state, ctlapi.Request{Op: "get-host"}); !r.Status.StatsIsolated || r.Status.Mode != switches.ModeVirtualized {
		t.Errorf("get-host: %+v", r.Status)
	}
	off := false
	if r := call(t, state, ctlapi.Request{Op: "set-host", Value: &off}); r.Status.StatsIsolated || hostOn(srv) {
		t.Errorf("set-host 0: reply %+v, server %v", r.Status, hostOn(srv))
	}
	r := call(t, state, ctlapi.Request{Op: "set-container", Container: "/tke/ctr1", Value: &off})
	if r.Entry == nil || r.Entry.ID != "/tke/ctr1" || r.Entry.Isolated || r.Entry.Source != switches.SourceCtl {
		t.Errorf("set-container: %+v", r.Entry)
	}
	r = call(t, state, ctlapi.Request{Op: "list"})
	if len(r.Containers) != 1 || r.Containers[0].Mode != switches.ModePassthrough || r.Containers[0].Source != switches.SourceCtl {
		t.Errorf("list: %+v", r.Containers)
	}
	for _, bad := range []ctlapi.Request{
		{Op: "set-container", Container: "/tke/nothing", Value: &off},
		{Op: "set-container", Container: "/tke/ctr1"},
		{Op: "set-host"},
		{Op: "reboot"},
	} {
		if _, err := ctlapi.Call(state, bad, 5*time.Second); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if r := call(t, state, ctlapi.Request{Op: "list"}); len(r.Containers) != 1 {
		t.Errorf("refused calls changed the list: %+v", r.Containers)
	}
}

// TestControlSocketRefusesNonRoot: even with the socket's mode opened up, the daemon answers a
// caller other than root with an error and changes nothing.
func TestControlSocketRefusesNonRoot(t *testing.T) {
	testenv.RequireRoot(t) // to run a client as another user
	srv, state := startCtlForTest(t)
	for _, p := range []string{filepath.Dir(state), state, filepath.Join(state, ctlapi.SocketName)} {
		os.Chmod(p, 0o777)
	}
	// The test binary sits in a directory only root may enter; give nobody a copy.
	bin := filepath.Join(t.TempDir(), "client")
	if out, err := exec.Command("cp", os.Args[0], bin).CombinedOutput(); err != nil {
		t.Fatalf("copy test binary: %v: %s", err, out)
	}
	for p := filepath.Dir(bin); p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	cmd := exec.Command(bin, "-test.run=^TestCtlClientProcess$")
	cmd.Env = append(os.Environ(), "PROCFSD_TEST_CTL_CLIENT="+state)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "only root may use the control socket") {
		t.Errorf("client as nobody: %v: %s", err, out)
	}
	if !hostOn(srv) {
		t.Errorf("a refused caller changed the host switch")
	}
}

// TestCtlClientProcess is the client of TestControlSocketRefusesNonRoot, run as another user.
func TestCtlClientProcess(t *testing.T) {
	state := os.Getenv("PROCFSD_TEST_CTL_CLIENT")
	if state == "" {
		return // only meaningful as the child process
	}
	off := false
	_, err := ctlapi.Call(state, ctlapi.Request{Op: "set-host", Value: &off}, 5*time.Second)
	fmt.Println("client:", err)
}

// TestSetUnseenContainerByRuntimeID: a full runtime ID names the container's cgroup even
// before the container was seen (Docker's cgroupfs layout here); a short one must have been seen.
func TestSetUnseenContainerByRuntimeID(t *testing.T) {
	cg := fixture.CopyTree(t, "../testdata/native/cgroup")
	id := strings.Repeat("5e", 32)
	if err := os.MkdirAll(filepath.Join(cg, "memory/docker", id), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := newSwitchServer(t, cg, "", nil)
	if _, err := srv.ctlSetContainer(id[:12], false); err == nil {
		t.Errorf("a 12-digit ID of a container never seen was accepted")
	}
	e, err := srv.ctlSetContainer(id, false)
	if err != nil || e.ID != "/docker/"+id || e.Isolated || e.Source != switches.SourceCtl {
		t.Fatalf("set by full ID: %+v, %v", e, err)
	}
	// Now seen, the short ID finds it.
	if e, err := srv.ctlSetContainer(id[:12], true); err != nil || e.ID != "/docker/"+id || !e.Isolated {
		t.Errorf("set by short ID once seen: %+v, %v", e, err)
	}
}
