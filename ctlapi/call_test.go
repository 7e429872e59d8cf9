package ctlapi

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestCallUnanswered: a socket that takes the connection but never answers, or drops it, is a
// daemon down (ErrDaemonDown), after at most the timeout.
func TestCallUnanswered(t *testing.T) {
	state := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(state, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Never accepted: the connection waits in the backlog, as with a stopped daemon.
	if _, err := Call(state, Request{Op: "status"}, 100*time.Millisecond); !errors.Is(err, ErrDaemonDown) {
		t.Errorf("unanswered: %v; want ErrDaemonDown", err)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	if _, err := Call(state, Request{Op: "status"}, 10*time.Second); !errors.Is(err, ErrDaemonDown) {
		t.Errorf("dropped: %v; want ErrDaemonDown", err)
	}
	if _, err := Call(t.TempDir(), Request{Op: "status"}, time.Second); !errors.Is(err, ErrDaemonDown) {
		t.Errorf("no socket: %v; want ErrDaemonDown", err)
	}
}

// TestCallWaitsForFullBacklog: with the listen backlog full, connect fails with
// EAGAIN; Call tries again until it gets in and is answered instead of calling the daemon down.
func TestCallWaitsForFullBacklog(t *testing.T) {
	state := t.TempDir()
	sock := filepath.Join(state, SocketName)
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), sock)
	fl, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ln := fl.(*net.UnixListener)
	defer ln.Close()
	var fill []net.Conn
	defer func() { closeConns(fill) }()
	for len(fill) < 100 {
		c, err := net.Dial("unix", sock)
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fill = append(fill, c)
	}
	if len(fill) == 100 {
		t.Fatal("the backlog of 1 took 100 connections")
	}

	retried := make(chan struct{}, 1)
	dialRetried = func() {
		select {
		case retried <- struct{}{}:
		default:
		}
	}
	defer func() { dialRetried = nil }()
	answered := make(chan error, 1)
	go func() {
		_, err := Call(state, Request{Op: "status"}, 30*time.Second)
		answered <- err
	}()
	select {
	case <-retried:
	case err := <-answered:
		t.Fatalf("Call with the backlog full: %v; want it to wait", err)
	}
	// The daemon comes round to its backlog: the silent connections go, Call's gets in.
	closeConns(fill)
	done := make(chan struct{})
	go func() { defer close(done); answerStatus(ln) }()
	defer func() { ln.Close(); <-done }()
	if err := <-answered; err != nil {
		t.Errorf("Call once the backlog had room: %v", err)
	}
}

func closeConns(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// answerStatus answers every request on ln with an empty status until ln is closed, as a daemon
// does once it comes round to its backlog.
func answerStatus(ln *net.UnixListener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		var req Request
		if json.NewDecoder(conn).Decode(&req) == nil {
			json.NewEncoder(conn).Encode(&Response{Status: &Status{}})
		}
		conn.Close()
	}
}
