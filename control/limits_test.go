package control

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"procfsd/ctlapi"
	"procfsd/internal/fixture"
	"procfsd/internal/testenv"
)

// startCtlWith serves the control socket of a server on the fixture cgroup tree, after set
// (if not nil) has adjusted the server's limits.
func startCtlWith(t *testing.T, set func(*Server)) (*Server, string) {
	t.Helper()
	state := filepath.Join(t.TempDir(), "state")
	srv := newSwitchServer(t, fixture.CopyTree(t, "../testdata/native/cgroup"), state, nil)
	if set != nil {
		set(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	if err := srv.Start(ctx, &wg); err != nil {
		t.Fatal(err)
	}
	return srv, state
}

// waitFor polls cond every few ms until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
	}
}

// failingAcceptor fails its first n accepts with err, then accepts from the real listener.
type failingAcceptor struct {
	ln    *net.UnixListener
	n     atomic.Int32
	err   error
	calls atomic.Int32
}

func (f *failingAcceptor) AcceptUnix() (*net.UnixConn, error) {
	f.calls.Add(1)
	if f.n.Add(-1) >= 0 {
		return nil, f.err
	}
	return f.ln.AcceptUnix()
}

// TestControlAcceptRetries: accept failing with EMFILE (the daemon out of descriptors) or
// ECONNABORTED does not end the control socket; once accept works again, clients are answered.
func TestControlAcceptRetries(t *testing.T) {
	testenv.RequireRoot(t) // the socket answers root only
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED} {
		t.Run(errno.Error(), func(t *testing.T) {
			state := t.TempDir()
			srv := newSwitchServer(t, fixture.CopyTree(t, "../testdata/native/cgroup"), "", nil)
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(state, ctlapi.SocketName), Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			f := &failingAcceptor{ln: ln, err: &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", errno)}}
			f.n.Store(5)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); srv.acceptControl(ctx, f) }()
			t.Cleanup(func() { cancel(); ln.Close(); <-done })
			if r := call(t, state, ctlapi.Request{Op: "status"}); r.Status == nil || r.Status.PID != os.Getpid() {
				t.Errorf("status after %d failed accepts: %+v", 5, r.Status)
			}
			if c := f.calls.Load(); c < 6 {
				t.Errorf("%d accepts; want the 5 failures retried", c)
			}
		})
	}
}

// TestControlAcceptEndsWithListener: a closed listener, or the context ending, ends the loop.
func TestControlAcceptEndsWithListener(t *testing.T) {
	srv := newSwitchServer(t, fixture.CopyTree(t, "../testdata/native/cgroup"), "", nil)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), ctlapi.SocketName), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.acceptControl(context.Background(), ln) }()
	ln.Close()
	<-done
}

// TestControlDropsSilentClient: a client that connects and sends nothing is dropped after the
// connection's deadline, so it cannot keep a slot.
func TestControlDropsSilentClient(t *testing.T) {
	testenv.RequireRoot(t) // the socket answers root only
	srv, state := startCtlWith(t, func(s *Server) { s.ctlTimeout = 100 * time.Millisecond })
	conn, err := net.Dial("unix", filepath.Join(state, ctlapi.SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The client's own deadline is far past the server's: the read ends because the server
	// closed the connection.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("silent client still connected after 30s: %v", err)
	}
	waitFor(t, "connection count back to 0", func() bool { return srv.ctlConns.Load() == 0 })
	call(t, state, ctlapi.Request{Op: "status"})
}

// TestControlBoundsClients: clients past the limit wait in the listen backlog instead of each
// taking a descriptor of the daemon, and are answered once the ones before them are gone.
func TestControlBoundsClients(t *testing.T) {
	testenv.RequireRoot(t) // the socket answers root only
	const limit = 4
	srv, state := startCtlWith(t, func(s *Server) { s.ctlClients = limit; s.ctlTimeout = time.Minute })
	var most atomic.Int32
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := srv.ctlConns.Load(); n > most.Load() {
				most.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	var idle []net.Conn
	for range 5 * limit {
		conn, err := net.Dial("unix", filepath.Join(state, ctlapi.SocketName))
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, conn)
	}
	waitFor(t, "limit reached", func() bool { return srv.ctlConns.Load() == limit })

	answered := make(chan error, 1)
	go func() {
		_, err := ctlapi.Call(state, ctlapi.Request{Op: "status"}, 30*time.Second)
		answered <- err
	}()
	for _, c := range idle {
		c.Close()
	}
	if err := <-answered; err != nil {
		t.Errorf("status queued behind silent clients: %v", err)
	}
	close(stop)
	<-sampled
	if n := most.Load(); n > limit {
		t.Errorf("%d connections served at once; the limit is %d", n, limit)
	}
}
