package main

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestMetricsAddress(t *testing.T) {
	for _, ok := range []struct {
		addr   string
		remote bool
		want   metricsAddr
	}{
		{"127.0.0.1:9100", false, metricsAddr{"tcp", "127.0.0.1:9100"}},
		{"[::1]:0", false, metricsAddr{"tcp", "[::1]:0"}},
		{"localhost:9100", false, metricsAddr{"tcp", "localhost:9100"}},
		{":9100", true, metricsAddr{"tcp", ":9100"}},
		{"10.0.0.1:9100", true, metricsAddr{"tcp", "10.0.0.1:9100"}},
		{"unix:/run/procfsd/metrics.sock", false, metricsAddr{"unix", "/run/procfsd/metrics.sock"}},
	} {
		got, err := parseMetricsAddress(ok.addr, ok.remote)
		if err != nil || got != ok.want {
			t.Errorf("%q (remote %v) = %+v, %v; want %+v", ok.addr, ok.remote, got, err, ok.want)
		}
	}
	// Unparsable, and beyond the host without the operator's say: usage errors.
	for _, bad := range []string{"9100", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", ":9100",
		"0.0.0.0:9100", "10.0.0.1:9100", "node1:9100", "unix:relative.sock"} {
		if _, err := parseMetricsAddress(bad, false); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}

// An address another process answers on is refused; a unix socket nobody answers any more (a
// handover's exec leaves the file) is taken over.
func TestMetricsListen(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if l, err := (metricsAddr{"tcp", busy.Addr().String()}).listen(); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		if l != nil {
			l.Close()
		}
		t.Errorf("listen on a port in use: %v, want EADDRINUSE", err)
	}

	path := filepath.Join(t.TempDir(), "metrics.sock")
	a := metricsAddr{"unix", path}
	l1, err := a.listen()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.listen(); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("listen on an answered socket: %v, want in use", err)
	}
	l1.(*net.UnixListener).SetUnlinkOnClose(false)
	l1.Close() // as an exec leaves it: the file without a listener
	l2, err := a.listen()
	if err != nil {
		t.Fatalf("listen on a stale socket: %v", err)
	}
	l2.Close()
}
