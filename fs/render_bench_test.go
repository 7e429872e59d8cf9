package fs

import (
	"os"
	"testing"
	"time"
)

// Benchmarks of the request path on the live machine, without FUSE: the open (resolving the
// reader, here the benchmark process itself) and a read at offset 0 of each file. They report
// allocs/op; the harness in bench/ measures the same through the kernel. The process must
// not sit in the root cgroups (it would be served the host files): run them from a container
// cgroup.
func benchServer(b *testing.B) *Server {
	b.Helper()
	s, err := New(Config{ProcRoot: "/proc", CgroupRoot: "/sys/fs/cgroup", StatsIsolated: true,
		QuotaView: true, LoadavgInterval: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	if c := s.resolve(os.Getpid()); c == nil || c.Root {
		b.Fatalf("benchmark process resolves to %+v: run it inside a non-root cgroup", c)
	}
	return s
}

func BenchmarkOpen(b *testing.B) {
	s := benchServer(b)
	n := s.tree.byID[11]
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		s.newHandle(n, pid, 0)
	}
}

func BenchmarkRead(b *testing.B) {
	s := benchServer(b)
	pid := os.Getpid()
	for _, id := range []uint64{10, 11, 12, 13, 14, 15} {
		n := s.tree.byID[id]
		b.Run(n.name(), func(b *testing.B) {
			h := s.newHandle(n, pid, 0)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.readAt(h, 0, 1<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
