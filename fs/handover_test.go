package fs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"procfsd/internal/testenv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"
)

// serving is one server on a connection, as one process of a handover chain runs it.
type serving struct {
	srv    *Server
	conn   *Conn
	cancel context.CancelFunc
	done   chan error
}

// serveConn starts a server for cfg on conn and waits until it answers requests.
// connFor, given the new server, returns the connection it serves (adopting one, after
// importing a predecessor's state).
func serveConn(t *testing.T, cfg Config, connFor func(*Server) *Conn) *serving {
	t.Helper()
	ready := make(chan struct{})
	cfg.OnReady = func() { close(ready) }
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	conn := connFor(srv)
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{srv: srv, conn: conn, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ctx, conn) }()
	select {
	case <-ready:
	case err := <-s.done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve not ready after 10s")
	}
	return s
}

// stop ends Serve at a request boundary and fails the test if that takes long.
func (s *serving) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop within 10s")
	}
}

// mountRaw mounts a tree without serving it; cleanup unmounts it and closes the descriptor.
func mountRaw(t testing.TB) *Conn {
	t.Helper()
	testenv.RequireFUSE(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	conn, err := Mount(dir)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		if err := conn.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
		unix.Close(conn.FD)
	})
	return conn
}

func hostConfig(t *testing.T) Config {
	return Config{ProcRoot: "/proc", CgroupRoot: "/sys/fs/cgroup", StatsIsolated: true, StateDir: t.TempDir()}
}

// TestHandoverChain hands one connection through ten servers while readers open, read and close
// files without pause, and one file stays open across all of them: no reader sees an error, and
// the open file's later offsets continue the snapshot its first read took.
func TestHandoverChain(t *testing.T) {
	conn := mountRaw(t)
	cfg := hostConfig(t)
	cur := serveConn(t, cfg, func(*Server) *Conn { return conn })

	held, err := os.Open(filepath.Join(conn.Mountpoint, "proc/uptime"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	first := make([]byte, 4096)
	n, err := held.ReadAt(first, 0)
	if n == 0 {
		t.Fatalf("first read of uptime: %v", err)
	}
	first = first[:n]

	var reads, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			files := []string{"proc/meminfo", "proc/stat", "proc/uptime", "proc/loadavg"}
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				b, err := os.ReadFile(filepath.Join(conn.Mountpoint, files[(i+j)%len(files)]))
				reads.Add(1)
				if err != nil || len(b) == 0 {
					if failures.Add(1) <= 5 {
						t.Errorf("read during handover: %v, %d bytes", err, len(b))
					}
				}
			}
		}()
	}
	for range 10 {
		before := reads.Load()
		for end := time.Now().Add(5 * time.Second); reads.Load() < before+50; time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal("readers made no progress")
			}
		}
		cur.stop(t)
		state, err := cur.srv.ExportHandover(conn)
		if err != nil {
			t.Fatal(err)
		}
		cur = serveConn(t, cfg, func(s *Server) *Conn {
			init, err := s.ImportHandover(state)
			if err != nil || init == nil {
				t.Fatalf("import: %v, INIT %d bytes", err, len(init))
			}
			return Adopt(conn.FD, conn.Mountpoint, init)
		})
	}
	close(stop)
	wg.Wait()
	rest := make([]byte, 4096)
	n, _ = held.ReadAt(rest, 3)
	if want := first[3:]; !bytes.Equal(rest[:n], want) {
		t.Errorf("pread at 3 after handovers: %q, want the first snapshot's %q", rest[:n], want)
	}
	held.Close()
	cur.stop(t)
	t.Logf("%d reads across 10 handovers, %d failures", reads.Load(), failures.Load())
}

// takeRequest reads one request from the descriptor no server is reading, as a server that
// then dies would have.
func takeRequest(t *testing.T, fd int) []byte {
	t.Helper()
	buf := make([]byte, maxWrite+64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := unix.Read(fd, buf)
		if err == nil {
			return buf[:n]
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			t.Fatalf("read /dev/fuse: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("no request within 10s")
		}
		unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100)
	}
}

// TestCrashRecovery: a request read by a server that then died (nothing answered it) is
// answered by the successor, from the journal when it was journalled, else because the
// successor asks the kernel to resend it. The blocked reader gets its data.
func TestCrashRecovery(t *testing.T) {
	for _, journalled := range []bool{true, false} {
		name := map[bool]string{true: "journal", false: "resend"}[journalled]
		t.Run(name, func(t *testing.T) {
			conn := mountRaw(t)
			cfg := hostConfig(t)
			first := serveConn(t, cfg, func(*Server) *Conn { return conn })
			first.stop(t)

			got := make(chan error, 1)
			go func() {
				b, err := os.ReadFile(filepath.Join(conn.Mountpoint, "proc/uptime"))
				if err == nil && len(b) == 0 {
					err = os.ErrInvalid
				}
				got <- err
			}()
			req := takeRequest(t, conn.FD)
			if journalled {
				j, err := OpenJournal(cfg.StateDir)
				if err != nil {
					t.Fatal(err)
				}
				j.slot(0).begin(req)
				j.Close()
			}
			core, logs := observer.New(zap.InfoLevel)
			cfg.Logger = zap.New(core)
			next := serveConn(t, cfg, func(*Server) *Conn { return Adopt(conn.FD, conn.Mountpoint, nil) })
			select {
			case err := <-got:
				if err != nil {
					t.Errorf("reader: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("the reader is still blocked 10s after the successor started")
			}
			next.stop(t)
			replayed := logs.FilterMessage("answering a request left in flight").Len()
			if want := map[bool]int{true: 1, false: 0}[journalled]; replayed != want {
				t.Errorf("%d requests answered from the journal, want %d", replayed, want)
			}
		})
	}
}
