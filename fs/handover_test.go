package fs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"procfsd/fuseconn"
	"procfsd/internal/fusetest"

	"go.uber.org/zap/zaptest"
)

// serving is one server on a connection, as one process of a handover chain runs it.
type serving struct {
	*fusetest.Serving
	srv *Server
}

// serveConn starts a server for cfg on conn and waits until it answers requests.
// connFor, given the new server, returns the connection it serves (adopting one, after
// importing a predecessor's state).
func serveConn(t *testing.T, cfg Config, connFor func(*Server) *fuseconn.Conn) *serving {
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
	return &serving{Serving: fusetest.Start(t, ready, func(ctx context.Context) error { return srv.Serve(ctx, conn) }), srv: srv}
}

// mountRaw mounts a tree without serving it; cleanup unmounts it and closes the descriptor.
func mountRaw(t testing.TB) *fuseconn.Conn {
	t.Helper()
	return fusetest.Mount(t, fuseconn.Mount, func(c *fuseconn.Conn) int { return c.FD })
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
	cur := serveConn(t, cfg, func(*Server) *fuseconn.Conn { return conn })

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
		cur.Stop(t)
		state, err := cur.srv.ExportHandover(conn)
		if err != nil {
			t.Fatal(err)
		}
		cur = serveConn(t, cfg, func(s *Server) *fuseconn.Conn {
			init, err := s.ImportHandover(state)
			if err != nil || init == nil {
				t.Fatalf("import: %v, INIT %d bytes", err, len(init))
			}
			return fuseconn.Adopt(conn.FD, conn.Mountpoint, init)
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
	cur.Stop(t)
	t.Logf("%d reads across 10 handovers, %d failures", reads.Load(), failures.Load())
}
