package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"procfsd/metrics"
)

// metricsAddr is a parsed --metrics-address (docs/behaviour.md §1.4): a TCP host:port, or
// unix:/path.
type metricsAddr struct {
	network, address string
}

// parseMetricsAddress checks --metrics-address. A TCP host must be a loopback address (an IP
// literal or "localhost") unless allowRemote: the exposition has no authentication, and on a
// node's network a DaemonSet's port is open to every pod (docs/behaviour.md §1.4).
func parseMetricsAddress(addr string, allowRemote bool) (metricsAddr, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if !strings.HasPrefix(path, "/") {
			return metricsAddr{}, fmt.Errorf("%w: --metrics-address unix:PATH needs an absolute path, got %q", errUsage, addr)
		}
		return metricsAddr{"unix", path}, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return metricsAddr{}, fmt.Errorf("%w: --metrics-address must be host:port or unix:/path, got %q", errUsage, addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return metricsAddr{}, fmt.Errorf("%w: --metrics-address %q: port must be a number from 0 to 65535", errUsage, addr)
	}
	if !allowRemote && !isLoopback(host) {
		return metricsAddr{}, fmt.Errorf("%w: --metrics-address %q is not a loopback address; add --metrics-allow-remote to expose metrics beyond this host", errUsage, addr)
	}
	return metricsAddr{"tcp", addr}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// listen binds the address. A unix socket left by a process that no longer answers it (a
// handover's exec or a crash leave the file) is replaced; one that answers is in use.
func (a metricsAddr) listen() (net.Listener, error) {
	if a.network == "unix" {
		if fi, err := os.Lstat(a.address); err == nil {
			if fi.Mode().Type() != os.ModeSocket {
				return nil, fmt.Errorf("listen on unix:%s: exists and is not a socket", a.address)
			}
			c, err := net.DialTimeout("unix", a.address, time.Second)
			if err == nil {
				c.Close()
				return nil, fmt.Errorf("listen on unix:%s: %w", a.address, syscall.EADDRINUSE)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return nil, fmt.Errorf("listen on unix:%s: %w", a.address, err)
			}
			if err := os.Remove(a.address); err != nil {
				return nil, fmt.Errorf("remove stale socket: %w", err)
			}
		}
	}
	l, err := net.Listen(a.network, a.address)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics: %w", err)
	}
	return l, nil
}

// serveMetrics answers GET /metrics on l until l is closed.
func serveMetrics(l net.Listener, m *metrics.Set, log *zap.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: zap.NewStdLog(log.Named("metrics"))}
	log.Info("serving metrics", zap.String("network", l.Addr().Network()), zap.String("address", l.Addr().String()))
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", zap.Error(err))
		}
	}()
	return srv
}
