package fs

import (
	"errors"
	"net"
	"path/filepath"
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
