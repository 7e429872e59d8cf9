package fs

import (
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// BenchmarkOpenReadClose is the hot path a /proc reader takes: open, read, close of a virtual
// file through the mount. "journal" runs with --state-dir (request journal and clock journal),
// "nojournal" without; BENCHMARKS.md quotes both.
func BenchmarkOpenReadClose(b *testing.B) {
	for _, tc := range []struct {
		name    string
		journal bool
	}{{"nojournal", false}, {"journal", true}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := Config{StatsIsolated: true}
			if tc.journal {
				cfg.StateDir = b.TempDir()
			}
			_, dir := mountForBench(b, cfg)
			path := filepath.Join(dir, "proc/uptime")
			buf := make([]byte, 4096)
			b.ResetTimer()
			for b.Loop() {
				fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := unix.Read(fd, buf); err != nil || n == 0 {
					b.Fatalf("read: %d, %v", n, err)
				}
				unix.Close(fd)
			}
		})
	}
}

// mountForBench mounts and serves a tree quietly for a benchmark.
func mountForBench(b *testing.B, cfg Config) (*Server, string) {
	b.Helper()
	cfg.Logger = zap.NewNop()
	return mountForTest(b, cfg)
}
