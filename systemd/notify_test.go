package systemd

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listen binds a datagram socket at addr (a path, or @name for the abstract namespace), points
// $NOTIFY_SOCKET at it and returns it, as systemd does for a Type=notify service.
func listen(t *testing.T, addr string) int {
	t.Helper()
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(s) })
	if err := unix.Bind(s, &unix.SockaddrUnix{Name: addr}); err != nil {
		t.Fatalf("bind %s: %v", addr, err)
	}
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	if err := unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", addr)
	return s
}

// receive reads one datagram and the descriptors that came with it.
func receive(t *testing.T, s int) (string, []int) {
	t.Helper()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*8))
	n, oobn, _, _, err := unix.Recvmsg(s, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	var fds []int
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, got...)
	}
	for _, fd := range fds {
		t.Cleanup(func() { unix.Close(fd) })
	}
	return string(buf[:n]), fds
}

func TestNotifyPath(t *testing.T) {
	s := listen(t, filepath.Join(t.TempDir(), "notify"))
	for _, state := range []string{Ready, Status("serving /var/lib/procfsd"), Watchdog, Stopping} {
		sent, err := Notify(state)
		if err != nil || !sent {
			t.Fatalf("Notify(%q) = %v, %v; want true, nil", state, sent, err)
		}
		if got, fds := receive(t, s); got != state || len(fds) != 0 {
			t.Errorf("received %q with %d fds, want %q with none", got, len(fds), state)
		}
	}
}

func TestNotifyAbstract(t *testing.T) {
	b := make([]byte, 6)
	rand.Read(b)
	s := listen(t, "@procfsd-systemd-test-"+hex.EncodeToString(b))
	if sent, err := Notify(Ready); err != nil || !sent {
		t.Fatalf("Notify = %v, %v; want true, nil", sent, err)
	}
	if got, _ := receive(t, s); got != Ready {
		t.Errorf("received %q, want %q", got, Ready)
	}
}

// TestNotifyWithFDs sends a pipe's write end the way procfsd stores /dev/fuse, and writes
// through the received copy: it must be the same pipe.
func TestNotifyWithFDs(t *testing.T) {
	s := listen(t, filepath.Join(t.TempDir(), "notify"))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	state := StoreFDs("fuse")
	sent, err := NotifyWithFDs(state, int(w.Fd()))
	w.Close()
	if err != nil || !sent {
		t.Fatalf("NotifyWithFDs = %v, %v; want true, nil", sent, err)
	}
	got, fds := receive(t, s)
	if got != "FDSTORE=1\nFDNAME=fuse" || len(fds) != 1 {
		t.Fatalf("received %q with %d fds, want %q with 1", got, len(fds), state)
	}
	if _, err := unix.Write(fds[0], []byte("same pipe")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "same pipe" {
		t.Errorf("read %q, %v from the pipe; want %q", buf[:n], err, "same pipe")
	}
}

func TestNotifyOff(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify(Ready); sent || err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET = %v, %v; want false, nil", sent, err)
	}
}

func TestNotifyErrors(t *testing.T) {
	for _, addr := range []string{"relative/notify", filepath.Join(t.TempDir(), "absent")} {
		t.Setenv("NOTIFY_SOCKET", addr)
		if sent, err := Notify(Ready); sent || err == nil {
			t.Errorf("NOTIFY_SOCKET=%s: Notify = %v, %v; want false and an error", addr, sent, err)
		}
	}
}
