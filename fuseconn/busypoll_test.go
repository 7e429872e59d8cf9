package fuseconn

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"
)

// replyOf is a reply header of error errno followed by data bytes.
func replyOf(errno int32, data int) []byte {
	b := make([]byte, outHeaderSize+data)
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[4:8], uint32(errno))
	return b
}

func TestFollowUpCertain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		op    uint32
		reply []byte
		want  bool
	}{
		{"open", opOpen, replyOf(0, 16), true},
		{"open refused", opOpen, replyOf(-13, 0), false},
		{"read with data", opRead, replyOf(0, 100), true},
		{"read at EOF", opRead, replyOf(0, 0), false},
		{"read failed", opRead, replyOf(-5, 0), false},
		{"release", opRelease, replyOf(0, 0), false},
		{"lookup", 1, replyOf(0, 128), false},
		{"no reply", opForget, nil, false},
	} {
		if got := followUpCertain(tc.op, tc.reply); got != tc.want {
			t.Errorf("%s: followUpCertain = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestBusyPollerPrediction: after an answer with no certain follow-up, the poller polls only
// while the last awaited request came within twice the window; a RELEASE, which nobody waits
// for, neither counts as such a request nor uses up the measurement.
func TestBusyPollerPrediction(t *testing.T) {
	eof := replyOf(0, 0)
	wide := &busyPoller{window: time.Hour} // every gap is short
	if wide.answered(opRead, eof) {
		t.Fatal("polled after EOF before any gap was measured")
	}
	wide.arrived(opRelease)
	if wide.hot.Load() || wide.idleSince.Load() == 0 {
		t.Fatal("a RELEASE changed the prediction")
	}
	wide.arrived(opOpen)
	if !wide.answered(opRead, eof) {
		t.Fatal("did not poll after EOF although the last OPEN came at once")
	}
	if !wide.answered(opOpen, replyOf(0, 16)) {
		t.Fatal("did not poll after OPEN")
	}

	narrow := &busyPoller{window: time.Nanosecond} // every gap is long
	narrow.hot.Store(true)
	narrow.answered(opRead, eof)
	narrow.idleSince.Store(time.Now().Add(-time.Millisecond).UnixNano()) // that answer, a while ago
	narrow.arrived(opOpen)
	if narrow.answered(opRead, eof) {
		t.Fatal("polled after EOF although the last OPEN came after twice the window")
	}

	off := &busyPoller{}
	if off.answered(opOpen, replyOf(0, 16)) {
		t.Fatal("polled with a zero window")
	}
}

// TestBusyPollCatchesFollowUps: a reader that takes its time between requests (1 ms, far longer
// than the loop needs to answer, so no request is ever queued before the loop comes to wait)
// finds the loop polling for its READs with a long window, and asleep in epoll without one.
func TestBusyPollCatchesFollowUps(t *testing.T) {
	const reads = 20
	for _, window := range []time.Duration{time.Second, 0} {
		srv := &server{log: zaptest.NewLogger(t), busyPoll: window}
		dir := serveRawForTest(t, srv, NewNullFS([]byte("content\n")))
		l := srv.loops.Load()
		sleepsBefore := l.sleeps.Load()
		for range reads {
			if b := slowRead(t, filepath.Join(dir, NullFile)); b != "content\n" {
				t.Fatalf("window %s: read %q", window, b)
			}
		}
		sleeps, caught := l.sleeps.Load()-sleepsBefore, l.busy.caught.Load()
		if window > 0 {
			// The prediction starts cold: the first read's RELEASE and the second read's OPEN
			// may each find the loop asleep; after that every request is polled for.
			if sleeps > 3 || caught < 2*reads {
				t.Errorf("window %s: %d sleeps in epoll and %d requests caught polling over %d reads, want at most 3 and at least %d",
					window, sleeps, caught, reads, 2*reads)
			}
		} else if sleeps < 2*reads || caught != 0 {
			t.Errorf("window 0: %d sleeps in epoll and %d requests caught polling over %d reads, want at least %d and 0",
				sleeps, caught, reads, 2*reads)
		}
	}
}

// slowRead opens path, reads it to EOF and closes it, pausing 1 ms before each request.
func slowRead(t *testing.T, path string) string {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var got []byte
	buf := make([]byte, 4096)
	for {
		time.Sleep(time.Millisecond) // the reader's own pace, not synchronisation
		n, err := unix.Read(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return string(got)
		}
		got = append(got, buf[:n]...)
	}
}

// TestStopEndsBusyPoll: a loop polling with a window far longer than any deadline still stops
// at once, so a handover never waits for a poll (docs/behaviour.md §5).
func TestStopEndsBusyPoll(t *testing.T) {
	srv := &server{log: zaptest.NewLogger(t), busyPoll: time.Hour}
	conn := mountRaw(t)
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- srv.serveRaw(ctx, conn, NewNullFS([]byte("x")), func() { close(ready) })
	}()
	<-ready
	// Two reads: the first makes the prediction hot, after the second the loop polls on.
	for range 2 {
		if _, err := os.ReadFile(filepath.Join(conn.Mountpoint, NullFile)); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop while a loop polled")
	}
}
