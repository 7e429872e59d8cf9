package fs

import (
	"testing"
	"time"

	"procfsd/cgroupview"
)

// TestNewInitForgetsCachedViews: the thread counts cached for the old container (up to
// tasksTTL old) are not the new one's: a loadavg started from them would start from the old
// count.
func TestNewInitForgetsCachedViews(t *testing.T) {
	srv, err := New(Config{ProcRoot: "/proc", CgroupRoot: "/sys/fs/cgroup", LoadavgInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{"": "/ctr"}
	// The first view a server makes triggers a sweep, which drops it at once (it is not used
	// yet): make that one another container's.
	srv.cache.view(&cgroupview.Container{ID: "/other", Paths: map[string]string{"": "/other"}}, time.Now())
	// Inits that no longer run: PIDs above the kernel's limit.
	old := &cgroupview.Container{ID: "/ctr", Paths: paths, InitPID: 1 << 30, InitStart: 1000}
	srv.history.Get(old)
	e := srv.cache.view(old, time.Now())
	e.tasks.Store(&snapshot[cgroupview.Tasks]{v: cgroupview.Tasks{Running: 2, Total: 9}, at: time.Now()})

	next := &cgroupview.Container{ID: "/ctr", Paths: paths, InitPID: 1<<30 + 1, InitStart: 30000}
	srv.history.Get(next)
	if s := srv.cache.view(next, time.Now()).tasks.Load(); s != nil {
		t.Errorf("new container's view holds the old one's thread counts %+v", s.v)
	}
	// The same container reading again keeps its views.
	e = srv.cache.view(next, time.Now())
	e.tasks.Store(&snapshot[cgroupview.Tasks]{v: cgroupview.Tasks{Total: 3}, at: time.Now()})
	srv.history.Get(next)
	if s := srv.cache.view(next, time.Now()).tasks.Load(); s == nil {
		t.Error("the same container's views were forgotten")
	}
}
