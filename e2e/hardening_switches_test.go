//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// usernsContainer is an unshareContainer that also has a user namespace, mapping its uids 0..65535
// to host uids 100000..165535 as a userns-remapped runtime does. Commands enter the user namespace
// too, as its root (host uid 100000).
type usernsContainer struct{ *unshareContainer }

const usernsHostRoot = 100000

func (c *usernsContainer) command(args ...string) *exec.Cmd {
	return gated(append([]string{"nsenter", "-t", strconv.Itoa(c.init), "-U", "-m", "-p", "--"}, args...)...)
}

// newUsernsContainer starts the container's init as PID 1 of new user, PID and mount namespaces,
// in cg, with the daemon's files bind-mounted over /proc as in newUnshareContainer.
func newUsernsContainer(t *testing.T, d *daemon, name string, cg *cgroup) *usernsContainer {
	t.Helper()
	c := &usernsContainer{&unshareContainer{name: name, root: cg, reader: cg}}
	var script strings.Builder
	script.WriteString("set -e\nmount --make-rprivate /\nmount -t proc proc /proc\n")
	for _, rel := range d.virtualFiles() {
		fmt.Fprintf(&script, "mount --bind %s /%s\n", shellQuote(d.path(rel)), rel)
	}
	script.WriteString("echo ready\nexec sleep 100000\n")
	cmd := gated("sh", "-c", script.String())
	cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS
	cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: usernsHostRoot, Size: 65536}}
	cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: usernsHostRoot, Size: 65536}}
	cmd.SysProcAttr.GidMappingsEnableSetgroups = true
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	c.t0, c.t1 = startInit(t, name, cg, cmd)
	c.init = cmd.Process.Pid // PID 1 of the new PID namespace
	t.Logf("%s: init pid %d in %s, user namespace root is host uid %d", name, c.init, cg.path, usernsHostRoot)
	return c
}

// writeSwitch is a shell command that writes value to file with dd, whose error names errno.
func writeSwitch(file, value string) string {
	return fmt.Sprintf("printf %s | dd of=%s conv=notrunc status=none", value, shellQuote(file))
}

// asOwnUserNSRoot runs a shell command as uid 1000 that first makes itself root of a user
// namespace of its own (unshare -Ur), checking that it is uid 0 there.
func asOwnUserNSRoot(uid int, script string) []string {
	return []string{"setpriv", "--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(uid), "--clear-groups",
		"unshare", "-Ur", "sh", "-c", `[ "$(id -u)" = 0 ] || { echo "not uid 0 after unshare -Ur" >&2; exit 3; }; ` + script}
}

// expectEPERM fails unless err is a refused write (dd's "Operation not permitted").
func expectEPERM(t *testing.T, who string, out string, err error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "Operation not permitted") {
		t.Errorf("%s: %v, output %q; want EPERM", who, err, out)
	}
}

// savedSwitches is <state>/switches.json.
type savedSwitches struct {
	StatsIsolated bool       `json:"stats_isolated"`
	Containers    []ctlEntry `json:"containers"`
}

func readSaved(t *testing.T, state string) savedSwitches {
	t.Helper()
	var s savedSwitches
	b := readFile(t, filepath.Join(state, "switches.json"))
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("switches.json: %v: %q", err, b)
	}
	return s
}

func (s savedSwitches) entry(id string) (ctlEntry, bool) {
	for _, e := range s.Containers {
		if e.ID == id {
			return e, true
		}
	}
	return ctlEntry{}, false
}

// waitSavedDefault waits until the state file holds container id with the default switch, as
// the first read of a container leaves it.
func waitSavedDefault(t *testing.T, state, id string) {
	t.Helper()
	poll(t, 10*time.Second, "switches.json holds "+id, func() error {
		if _, err := os.Stat(filepath.Join(state, "switches.json")); err != nil {
			return notYet("%v", err)
		}
		e, ok := readSaved(t, state).entry(id)
		if !ok {
			return notYet("no entry")
		}
		if !e.Isolated || e.Source != "default" {
			return fmt.Errorf("entry %+v before any write", e)
		}
		return nil
	})
}

// checkUntouched checks that refused writes left container id (seen from c) isolated with its
// default switch, in the daemon and in the state file, and the host switch on.
func checkUntouched(t *testing.T, d *ctlDaemon, c container, id string, mem uint64) {
	t.Helper()
	if got := memTotalOf(t, mustRun(t, c, "cat", "/proc/meminfo")); got != mem {
		t.Errorf("%s: MemTotal %d kB after refused writes, want %d kB", c, got/1024, mem/1024)
	}
	if e := d.list(t)[id]; !e.Isolated || e.Source != "default" {
		t.Errorf("ctl list %s after refused writes: %+v", id, e)
	}
	saved := readSaved(t, d.state)
	if e, ok := saved.entry(id); !ok || !e.Isolated || e.Source != "default" {
		t.Errorf("switches.json %s after refused writes: %+v (present %v)", id, e, ok)
	}
	if !saved.StatsIsolated || strings.TrimSpace(d.mustCtl(t, "ctl", "get")) != "1" {
		t.Errorf("host switch changed by refused writes (saved %v)", saved.StatsIsolated)
	}
}

// checkRootWrites checks that the container's root (c's commands) may still set its switch.
func checkRootWrites(t *testing.T, d *ctlDaemon, c container, id, file string, host, mem uint64) {
	t.Helper()
	mustRun(t, c, "sh", "-c", writeSwitch(file, "0"))
	pollMemTotal(t, c, host)
	if e, ok := readSaved(t, d.state).entry(id); !ok || e.Isolated || e.Source != "write" {
		t.Errorf("switches.json %s after its root wrote 0: %+v (present %v)", id, e, ok)
	}
	mustRun(t, c, "sh", "-c", writeSwitch(file, "1"))
	pollMemTotal(t, c, mem)
}

// TestSwitchWritersFromUserNamespaces: a process that makes itself root of a user namespace of
// its own (unshare -Ur) is still only what it was: in a container, uid 1000 cannot switch the
// container to the host's view, and on the host it changes neither switch. The container's root
// (host root in a container without a user namespace, uid 0 of the container's user namespace
// where it has one) still can, and only from that very user namespace (docs/behaviour.md §3).
func TestSwitchWritersFromUserNamespaces(t *testing.T) {
	h := readHost(t)
	mnt, state := switchDirs(t)
	// Unprivileged and remapped writers must reach the mountpoint.
	if err := os.Chmod(filepath.Dir(mnt), 0o755); err != nil {
		t.Fatal(err)
	}
	d := startCtlDaemon(t, mnt, state)
	ctlFile := filepath.Join(mnt, "proc/sys/kernel/container_stats_isolated")
	hostFile := filepath.Join(mnt, "proc/sys/kernel/stats_isolated")
	l := limits{memory: 256 << 20}
	mem := expectView(t, h, l).memTotal

	t.Run("container", func(t *testing.T) {
		cg := newCgroup(t, l)
		c := newUnshareContainer(t, d.daemon, "switches-plain", cg, cg)
		pollMemTotal(t, c, mem)
		waitSavedDefault(t, state, cg.path)
		for _, f := range []string{ctlFile, hostFile} {
			out, err := run(c, asOwnUserNSRoot(1000, writeSwitch(f, "0"))...)
			expectEPERM(t, "uid 1000 in "+c.String()+" as root of its own user namespace writing "+filepath.Base(f), out, err)
		}
		checkUntouched(t, d, c, cg.path, mem)
		checkRootWrites(t, d, c, cg.path, ctlFile, h.memTotal, mem)
	})

	t.Run("user namespace container", func(t *testing.T) {
		cg := newCgroup(t, l)
		c := newUsernsContainer(t, d.daemon, "switches-userns", cg)
		pollMemTotal(t, c, mem)
		waitSavedDefault(t, state, cg.path)
		if got := strings.TrimSpace(mustRun(t, c, "id", "-u")); got != "0" {
			t.Fatalf("commands in %s run as uid %s, want its root", c, got)
		}
		for _, f := range []string{ctlFile, hostFile} {
			out, err := run(c, asOwnUserNSRoot(1000, writeSwitch(f, "0"))...)
			expectEPERM(t, "uid 1000 in "+c.String()+" as root of its own user namespace writing "+filepath.Base(f), out, err)
		}
		// The container's root itself, from a user namespace nested in the container's: the
		// switch belongs to the root of the container's init's user namespace only.
		out, err := run(c, "unshare", "-Ur", "sh", "-c", writeSwitch(ctlFile, "0"))
		expectEPERM(t, "root of "+c.String()+" in a nested user namespace", out, err)
		checkUntouched(t, d, c, cg.path, mem)
		checkRootWrites(t, d, c, cg.path, ctlFile, h.memTotal, mem)
	})

	t.Run("host", func(t *testing.T) {
		// A host process (host PID namespace) in a cgroup of its own, which it would switch.
		lh := limits{memory: 512 << 20}
		cg := newCgroup(t, lh)
		for _, f := range []string{ctlFile, hostFile} {
			out, err := runInCgroup(t, cg, asOwnUserNSRoot(1000, writeSwitch(f, "0"))...)
			expectEPERM(t, "host uid 1000 as root of its own user namespace writing "+filepath.Base(f), out, err)
		}
		if got := strings.TrimSpace(d.mustCtl(t, "ctl", "get")); got != "1" {
			t.Errorf("host switch %q after refused writes", got)
		}
		if e, ok := d.list(t)[cg.path]; ok && (!e.Isolated || e.Source == "write") {
			t.Errorf("ctl list %s after refused writes: %+v", cg.path, e)
		}
		if _, err := os.Stat(filepath.Join(state, "switches.json")); err == nil {
			saved := readSaved(t, state)
			if e, ok := saved.entry(cg.path); !saved.StatsIsolated || ok && (!e.Isolated || e.Source == "write") {
				t.Errorf("switches.json after refused writes: host %v, %s %+v", saved.StatsIsolated, cg.path, e)
			}
		}
		paths := map[string]string{"memory": cg.path}
		if cgroupV2(t) {
			paths = map[string]string{"": cg.path}
		}
		if got := memTotalOf(t, memberRead(t, paths, d.path("proc/meminfo"))); got != expectView(t, h, lh).memTotal {
			t.Errorf("a host process in %s: MemTotal %d kB, want its limit", cg, got/1024)
		}
	})
	d.alive(t)
}

// runInCgroup runs args as a host process (host namespaces) placed in cg, returning stdout; a
// failure carries stderr.
func runInCgroup(t *testing.T, cg *cgroup, args ...string) (string, error) {
	t.Helper()
	cmd := gated(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := startGated(cg, cmd); err != nil {
		t.Fatalf("start %q in %s: %v", args, cg, err)
	}
	if err := waitGroup(cmd, 60*time.Second); err != nil {
		return stdout.String(), fmt.Errorf("%q in %s: %v; stderr: %s", args, cg, err, stderr.String())
	}
	return stdout.String(), nil
}

// TestSwitchCtlCgroupAliases: `ctl set container` with another spelling of a container's cgroup
// path (/x/, //x, /x/., /a/../x) sets that container's one entry, which readers see and the
// sweep drops with the cgroup; the root cgroup is refused with a clear error.
func TestSwitchCtlCgroupAliases(t *testing.T) {
	h := readHost(t)
	mnt, state := switchDirs(t)
	d := startCtlDaemon(t, mnt, state)
	l := limits{memory: 256 << 20}
	mem := expectView(t, h, l).memTotal
	cg := newCgroup(t, l)
	c := newUnshareContainer(t, d.daemon, "switches-alias", cg, cg)
	pollMemTotal(t, c, mem)
	id := cg.path
	name := filepath.Base(id)
	for i, alias := range []string{id + "/", "/" + id, id + "/.", "/a/.." + id} {
		value, want := "0", h.memTotal
		if i%2 == 1 {
			value, want = "1", mem
		}
		out := d.mustCtl(t, "ctl", "set", "container", alias, value)
		if got := strings.Fields(out); len(got) < 2 || got[0] != id || got[1] != value {
			t.Errorf("ctl set container %s %s printed %q, want %s %s", alias, value, out, id, value)
		}
		pollMemTotal(t, c, want)
		for got, e := range d.list(t) {
			if strings.Contains(got, name) && got != id {
				t.Errorf("after ctl set container %s: an entry %+v besides %s", alias, e, id)
			}
		}
		if e := d.list(t)[id]; e.Isolated != (value == "1") || e.Source != "ctl" {
			t.Errorf("after ctl set container %s %s: %+v", alias, value, e)
		}
	}
	for _, root := range []string{"/", "//", "/a/.."} {
		if _, errOut, code := d.ctl(t, "ctl", "set", "container", root, "0"); code != 1 || !strings.Contains(errOut, "root cgroup") {
			t.Errorf("ctl set container %s 0: exit %d, %q; want 1 and a root cgroup error", root, code, errOut)
		}
	}
	d.mustCtl(t, "ctl", "set", "container", id+"/", "0")
	cg.remove(t)
	poll(t, 20*time.Second, "entries of the removed cgroup dropped", func() error {
		for got := range d.list(t) {
			if strings.Contains(got, name) {
				return notYet("still listed: %s", got)
			}
		}
		if b := readFile(t, filepath.Join(state, "switches.json")); bytes.Contains(b, []byte(name)) {
			return notYet("still in switches.json")
		}
		return nil
	})
	d.alive(t)
}
