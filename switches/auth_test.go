package switches

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"procfsd/cgroupview"
)

// fakeProc is a /proc tree for authorizeWrite: each process's ns/user is a symlink to a file
// standing for its user namespace (its device and inode name it), or to procfsd's own.
type fakeProc struct {
	root string
	t    *testing.T
}

func newFakeProc(t *testing.T) *fakeProc {
	return &fakeProc{root: t.TempDir(), t: t}
}

// ns returns a file standing for the user namespace called name, made on first use.
func (p *fakeProc) ns(name string) string {
	f := filepath.Join(p.root, "ns-"+name)
	if _, err := os.Stat(f); err != nil {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	return f
}

// process adds pid in the user namespace ns (a path) with the given uid_map and start time.
func (p *fakeProc) process(pid int, ns, uidMap string, start uint64) {
	dir := filepath.Join(p.root, strconv.Itoa(pid))
	if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Symlink(ns, filepath.Join(dir, "ns", "user")); err != nil {
		p.t.Fatal(err)
	}
	stat := fmt.Sprintf("%d (sh) S 1 %d %d 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", pid, pid, pid, start)
	for name, data := range map[string]string{"uid_map": uidMap, "stat": stat} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

// TestAuthorizeSwitchWrite: who may write which switch (docs/behaviour.md §3). The uid is the FUSE
// request's, in procfsd's user namespace; what the writer's own uid_map says never counts.
func TestAuthorizeSwitchWrite(t *testing.T) {
	self, err := userNS("/proc/self/ns/user")
	if err != nil {
		t.Fatal(err)
	}
	const (
		hostRoot   = 10  // uid 0 in procfsd's user namespace, host PID namespace
		hostUserNS = 11  // uid 1000 on the host after unshare -Ur: its map says it is root
		initPlain  = 20  // init of a container without a user namespace
		initUserNS = 30  // init of a container whose user namespace maps 0 to 100000
		ctrRoot    = 31  // that container's root
		ctrNested  = 32  // that container's root in a user namespace of its own
		ctrUser    = 33  // uid 1000 of that container after unshare -Ur
		plainUser  = 21  // uid 1000 of the plain container after unshare -Ur
		gone       = 999 // no such process
	)
	const identity = "         0          0 4294967295\n"
	p := newFakeProc(t)
	p.process(hostRoot, "/proc/self/ns/user", identity, 1)
	p.process(hostUserNS, p.ns("host-user"), "0 1000 1\n", 2)
	p.process(initPlain, "/proc/self/ns/user", identity, 3)
	p.process(plainUser, p.ns("plain-user"), "0 1000 1\n", 4)
	p.process(initUserNS, p.ns("ctr"), "0 100000 65536\n", 5)
	p.process(ctrRoot, p.ns("ctr"), "0 100000 65536\n", 6)
	p.process(ctrNested, p.ns("ctr-nested"), "0 100000 1\n", 7)
	p.process(ctrUser, p.ns("ctr-user"), "0 101000 1\n", 8)

	hostCg := &cgroupview.Container{ID: "/user.slice", InitPID: 0}
	rootCg := &cgroupview.Container{ID: "/", InitPID: 0, Root: true}
	plain := &cgroupview.Container{ID: "/plain", InitPID: initPlain, InitStart: 3}
	userns := &cgroupview.Container{ID: "/userns", InitPID: initUserNS, InitStart: 5}
	reused := &cgroupview.Container{ID: "/userns", InitPID: initUserNS, InitStart: 99}

	for _, tt := range []struct {
		name string
		node Which
		pid  int
		uid  uint32
		c    *cgroupview.Container
		ok   bool
	}{
		{"host root, host switch", Host, hostRoot, 0, hostCg, true},
		{"host root in the root cgroup, host switch", Host, hostRoot, 0, rootCg, true},
		{"host uid 1000 in its own user namespace, host switch", Host, hostUserNS, 1000, hostCg, false},
		{"uid 0 in a user namespace of its own, host switch", Host, hostUserNS, 0, hostCg, false},
		{"root of a plain container, host switch", Host, hostRoot, 0, plain, false},
		{"host root, its own cgroup's container switch", Container, hostRoot, 0, hostCg, true},
		{"host root in the root cgroup, container switch", Container, hostRoot, 0, rootCg, false},
		{"host uid 1000 in its own user namespace, container switch", Container, hostUserNS, 1000, hostCg, false},
		{"root of a plain container", Container, hostRoot, 0, plain, true},
		{"uid 1000 of a plain container in its own user namespace", Container, plainUser, 1000, plain, false},
		{"root of a user-namespace container", Container, ctrRoot, 100000, userns, true},
		{"host root entering a user-namespace container", Container, hostRoot, 0, userns, true},
		{"root of a user-namespace container in a nested user namespace", Container, ctrNested, 100000, userns, false},
		{"uid 1000 of a user-namespace container in its own user namespace", Container, ctrUser, 101000, userns, false},
		{"uid 1 of a user-namespace container", Container, ctrRoot, 100001, userns, false},
		{"a host uid the container's map does not hold", Container, ctrRoot, 1000, userns, false},
		{"root of a container whose init PID was reused", Container, ctrRoot, 100000, reused, false},
		{"a writer gone", Container, gone, 0, plain, false},
		{"not a switch", 3, hostRoot, 0, hostCg, false},
	} {
		err := authorizeWrite(p.root, self, tt.node, tt.pid, tt.uid, tt.c)
		switch {
		case tt.ok && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case !tt.ok && !errors.Is(err, ErrPermission):
			t.Errorf("%s: got %v, want ErrPermission", tt.name, err)
		}
	}
}

func TestMapUID(t *testing.T) {
	f := filepath.Join(t.TempDir(), "uid_map")
	if err := os.WriteFile(f, []byte("         0     100000      65536\n     65536       1000          1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		uid    uint32
		inside uint64
		ok     bool
	}{{100000, 0, true}, {165535, 65535, true}, {165536, 0, false}, {1000, 65536, true}, {0, 0, false}, {99999, 0, false}} {
		inside, ok, err := mapUID(f, tt.uid)
		if err != nil || ok != tt.ok || inside != tt.inside {
			t.Errorf("uid %d: %d %v %v; want %d %v", tt.uid, inside, ok, err, tt.inside, tt.ok)
		}
	}
	if _, _, err := mapUID(filepath.Join(t.TempDir(), "none"), 0); err == nil {
		t.Errorf("a missing uid_map: no error")
	}
}
