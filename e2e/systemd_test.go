//go:build e2e

package e2e

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// notifyMsg is one datagram procfsd sent to the notify socket.
type notifyMsg struct {
	state string
	fds   []*os.File
	at    time.Time
}

// notifyPeer plays systemd's side of the notify socket: a datagram socket whose messages,
// with the descriptors they carry (SCM_RIGHTS), are queued for the test.
type notifyPeer struct {
	addr    string
	msgs    chan notifyMsg
	all     []notifyMsg // every message taken from msgs, in order
	backlog []notifyMsg // those of all that no wait has matched yet
}

func newNotifyPeer(t *testing.T) *notifyPeer {
	t.Helper()
	p := &notifyPeer{addr: filepath.Join(t.TempDir(), "notify"), msgs: make(chan notifyMsg, 1024)}
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(s, &unix.SockaddrUnix{Name: p.addr}); err != nil {
		unix.Close(s)
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	quit, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(16*4))
		for {
			select {
			case <-quit:
				return
			default:
			}
			n, oobn, _, _, err := unix.Recvmsg(s, buf, oob, unix.MSG_CMSG_CLOEXEC)
			if err != nil {
				continue // the receive timeout: look at quit again
			}
			m := notifyMsg{state: string(buf[:n]), at: time.Now()}
			cmsgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			for _, c := range cmsgs {
				fds, _ := unix.ParseUnixRights(&c)
				for _, fd := range fds {
					m.fds = append(m.fds, os.NewFile(uintptr(fd), fmt.Sprintf("fd %d", fd)))
				}
			}
			p.msgs <- m
		}
	}()
	t.Cleanup(func() {
		close(quit)
		<-stopped
		unix.Close(s)
		close(p.msgs)
		for m := range p.msgs {
			p.all = append(p.all, m)
		}
		for _, m := range p.all {
			for _, f := range m.fds {
				f.Close()
			}
		}
	})
	return p
}

// wait returns the oldest message not returned yet for which match is true, failing after
// timeout. Messages skipped on the way stay for later waits.
func (p *notifyPeer) wait(t *testing.T, what string, timeout time.Duration, match func(notifyMsg) bool) notifyMsg {
	t.Helper()
	for i, m := range p.backlog {
		if match(m) {
			p.backlog = slices.Delete(p.backlog, i, i+1)
			return m
		}
	}
	deadline := time.After(timeout)
	for {
		select {
		case m := <-p.msgs:
			p.all = append(p.all, m)
			if match(m) {
				return m
			}
			p.backlog = append(p.backlog, m)
		case <-deadline:
			var seen []string
			for _, m := range p.all {
				seen = append(seen, fmt.Sprintf("%q", m.state))
			}
			t.Fatalf("no %s within %v; received: %s", what, timeout, strings.Join(seen, ", "))
		}
	}
}

func isState(s string) func(notifyMsg) bool { return func(m notifyMsg) bool { return m.state == s } }

// TestSystemdNotify runs procfsd the way systemd runs the unit (Type=notify, WatchdogSec=1s,
// FileDescriptorStoreMax=) against a notify socket owned by the test: READY=1 only once the
// mount answers, STATUS lines, watchdog pings at half the interval, and the /dev/fuse
// descriptor and its INIT request sent to the fd store. Then procfsd is killed (a crash) while
// the test, like the fd store, holds the descriptor; a reader blocks meanwhile. A new procfsd
// started with LISTEN_FDS/LISTEN_FDNAMES must adopt that connection: the same mount (same
// mount ID and device), the blocked reader answered, and no ENOTCONN ever.
func TestSystemdNotify(t *testing.T) {
	mnt, state := restartDirs(t)
	peer := newNotifyPeer(t)
	env := []string{"NOTIFY_SOCKET=" + peer.addr, "WATCHDOG_USEC=1000000"}
	d1 := startRestartable(t, mnt, state, env, nil)

	ready := peer.wait(t, "READY=1", 20*time.Second, isState("READY=1"))
	b, err := os.ReadFile(filepath.Join(mnt, "proc/meminfo"))
	if err != nil || !strings.HasPrefix(string(b), "MemTotal:") {
		t.Fatalf("right after READY=1: meminfo %q, %v; want the mount to answer", firstLineOf(b), err)
	}
	before := procfsdMounts(t, mnt)
	if len(before) != 1 {
		t.Fatalf("procfsd mounts at %s after READY=1: %q, want one", mnt, before)
	}
	peer.wait(t, "STATUS=serving", 5*time.Second, isState(fmt.Sprintf("STATUS=serving %s (mounted)", mnt)))
	// The fd store gets the connection before READY=1: a crash right after start-up keeps it.
	initMsg := peer.wait(t, "FDSTORE fuse-init", 5*time.Second, isState("FDSTORE=1\nFDNAME=fuse-init"))
	fuseMsg := peer.wait(t, "FDSTORE fuse", 5*time.Second, isState("FDSTORE=1\nFDNAME=fuse"))
	if len(initMsg.fds) != 1 || len(fuseMsg.fds) != 1 {
		t.Fatalf("fd store messages carry %d and %d descriptors, want 1 each", len(initMsg.fds), len(fuseMsg.fds))
	}
	checkStoredInit(t, initMsg.fds[0])
	if link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fuseMsg.fds[0].Fd())); err != nil || link != "/dev/fuse" {
		t.Fatalf("stored fuse descriptor is %q (%v), want /dev/fuse", link, err)
	}

	t.Run("watchdog", func(t *testing.T) {
		var pings []time.Time
		for len(pings) < 6 {
			pings = append(pings, peer.wait(t, "WATCHDOG=1", 3*time.Second, isState("WATCHDOG=1")).at)
		}
		if first := pings[0].Sub(ready.at); first > time.Second {
			t.Errorf("first WATCHDOG=1 %v after READY=1, want within WatchdogSec (1s)", first)
		}
		for i := 1; i < len(pings); i++ {
			if gap := pings[i].Sub(pings[i-1]); gap < 350*time.Millisecond || gap > 750*time.Millisecond {
				t.Errorf("WATCHDOG=1 pings %d and %d are %v apart, want half of WatchdogSec (500ms ± 150ms)", i, i+1, gap)
			}
		}
	})

	// The crash. The test holds the stored descriptors, as the fd store does.
	d1.kill(t)
	reader := exec.Command("cat", filepath.Join(mnt, "proc/meminfo"))
	var readerOut strings.Builder
	reader.Stdout, reader.Stderr = &readerOut, &readerOut
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	readerDone := make(chan struct{})
	var readerErr error
	go func() { readerErr = reader.Wait(); close(readerDone) }()
	t.Cleanup(func() {
		reader.Process.Kill()
		select {
		case <-readerDone:
		case <-time.After(10 * time.Second):
			t.Errorf("reader still blocked 10s after SIGKILL")
		}
	})

	// The reader waits in the kernel for an answer (fs/fuse/dev.c), not failing: the connection
	// lives on in the descriptors the test holds.
	poll(t, 10*time.Second, "reader waiting on the connection while no daemon runs", func() error {
		select {
		case <-readerDone:
			return fmt.Errorf("reader finished with no daemon running: %v, output %q", readerErr, readerOut.String())
		default:
		}
		w, err := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", reader.Process.Pid))
		if err != nil || string(w) != "request_wait_answer" {
			return notYet("reader's wchan %q (%v)", w, err)
		}
		return nil
	})
	files := []*os.File{fuseMsg.fds[0], initMsg.fds[0]}
	env2 := append(env, "LISTEN_FDS=2", "LISTEN_FDNAMES=fuse:fuse-init")
	d2 := startRestartable(t, mnt, state, env2, files)
	peer.wait(t, "READY=1 from the successor", 20*time.Second, isState("READY=1"))
	peer.wait(t, "STATUS=serving (adopted)", 5*time.Second, isState(fmt.Sprintf("STATUS=serving %s (adopted from the fd store)", mnt)))
	select {
	case <-readerDone:
		if err := readerErr; err != nil || !strings.HasPrefix(readerOut.String(), "MemTotal:") {
			t.Errorf("reader blocked across the crash: %v, output %q; want meminfo", err, firstLineOf([]byte(readerOut.String())))
		}
	case <-time.After(20 * time.Second):
		t.Errorf("reader blocked across the crash still waits 20s after the successor is ready")
	}
	if after := procfsdMounts(t, mnt); !slices.Equal(after, before) {
		t.Errorf("procfsd mounts at %s: %q before the crash, %q after; want the same mount, adopted", mnt, before, after)
	}
	if !d2.logged("adopted the connection kept in systemd's fd store") {
		t.Errorf("successor did not log the adoption; output:\n%s", d2.out)
	}

	// A stop under systemd: STOPPING=1, exit 0, and the mount stays for ExecStopPost to decide
	// (it may be a restart). The test then does what ExecStopPost does on a real stop.
	d2.term(t)
	peer.wait(t, "STOPPING=1", 5*time.Second, isState("STOPPING=1"))
	if got := procfsdMounts(t, mnt); !slices.Equal(got, before) {
		t.Errorf("after SIGTERM under systemd: mounts %q, want %q kept for ExecStopPost", got, before)
	}
	if !d2.logged("leaving the mount to systemd, which keeps the connection for a restart") {
		t.Errorf("successor did not say it left the mount to systemd; output:\n%s", d2.out)
	}
}

// checkStoredInit checks that the fd store's fuse-init is a sealed memfd holding a FUSE_INIT
// request (opcode 26, its own length in the header).
func checkStoredInit(t *testing.T, f *os.File) {
	t.Helper()
	if link, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); !strings.HasPrefix(link, "/memfd:fuse-init") {
		t.Errorf("fuse-init descriptor is %q, want a memfd named fuse-init", link)
	}
	buf := make([]byte, 4096)
	n, err := f.ReadAt(buf, 0)
	if n < 40 {
		t.Fatalf("fuse-init holds %d bytes (%v), want an INIT request", n, err)
	}
	if l, op := binary.LittleEndian.Uint32(buf[0:]), binary.LittleEndian.Uint32(buf[4:]); int(l) != n || op != 26 {
		t.Errorf("fuse-init: header length %d opcode %d for %d bytes, want length %d opcode 26", l, op, n, n)
	}
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil || seals&unix.F_SEAL_WRITE == 0 {
		t.Errorf("fuse-init seals %#x (%v), want F_SEAL_WRITE", seals, err)
	}
}
