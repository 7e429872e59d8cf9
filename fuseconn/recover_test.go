package fuseconn

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"procfsd/internal/fusetest"
)

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
			state := t.TempDir()
			first := serveNull(t, conn, state, zaptest.NewLogger(t))
			first.Stop(t)

			got := make(chan error, 1)
			go func() {
				b, err := os.ReadFile(filepath.Join(conn.Mountpoint, NullFile))
				if err == nil && len(b) == 0 {
					err = os.ErrInvalid
				}
				got <- err
			}()
			req := takeRequest(t, conn.FD)
			if journalled {
				j, err := OpenJournal(state)
				if err != nil {
					t.Fatal(err)
				}
				j.slot(0).begin(req)
				j.Close()
			}
			core, logs := observer.New(zap.InfoLevel)
			next := serveNull(t, Adopt(conn.FD, conn.Mountpoint, nil), state, zap.New(core))
			select {
			case err := <-got:
				if err != nil {
					t.Errorf("reader: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("the reader is still blocked 10s after the successor started")
			}
			next.Stop(t)
			replayed := logs.FilterMessage("answering a request left in flight").Len()
			if want := map[bool]int{true: 1, false: 0}[journalled]; replayed != want {
				t.Errorf("%d requests answered from the journal, want %d", replayed, want)
			}
		})
	}
}

// serveNull serves a null tree on conn, with the request journal under stateDir, and waits
// until it answers requests, as procfsd's Serve does for its tree: one process of a handover
// chain.
func serveNull(t *testing.T, conn *Conn, stateDir string, log *zap.Logger) *fusetest.Serving {
	t.Helper()
	j, err := OpenJournal(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{log: log, journal: j}
	ready := make(chan struct{})
	return fusetest.Start(t, ready, func(ctx context.Context) error {
		defer j.Close()
		return srv.serveRaw(ctx, conn, NewNullFS([]byte("content\n")), func() { close(ready) })
	})
}
