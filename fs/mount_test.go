package fs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"procfsd/internal/fusetest"
)

// mountForTest mounts a server for cfg on a temporary directory and unmounts it at cleanup. It
// logs to the test unless cfg has a logger.
// Mounting needs root and /dev/fuse; without them the test fails rather than skips, because a
// green run that tested nothing would hide a broken machine.
func mountForTest(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "/sys/fs/cgroup"
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	ready := make(chan struct{})
	cfg.OnReady = func() { close(ready) }
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	conn := mountRaw(t)
	// Readers of other uids must be able to reach the mountpoint.
	for p := filepath.Dir(conn.Mountpoint); p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fusetest.ServeInBackground(t, ready, func(ctx context.Context) error { return srv.Serve(ctx, conn) })
	return srv, conn.Mountpoint
}

func TestListingIsExactlyTheTree(t *testing.T) {
	_, dir := mountForTest(t, Config{StatsIsolated: true})
	_, psiErr := os.Stat("/proc/pressure")
	wantProc := []string{"cpuinfo", "diskstats", "loadavg", "meminfo", "stat", "swaps", "sys", "uptime", "vmstat"}
	if psiErr == nil {
		wantProc = append(wantProc, "pressure")
		sort.Strings(wantProc)
	}
	for sub, want := range map[string][]string{
		"":                       {"proc", "sys"},
		"proc":                   wantProc,
		"proc/sys/kernel":        {"container_stats_isolated", "stats_isolated"},
		"sys/devices/system/cpu": {"online"},
	} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatalf("ReadDir %q: %v", sub, err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("listing of %q (-want +got):\n%s", sub, diff)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "proc/nosuch")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of an unknown name: got %v, want ENOENT", err)
	}
}

func TestAttributes(t *testing.T) {
	_, dir := mountForTest(t, Config{StatsIsolated: true})
	for path, wantMode := range map[string]os.FileMode{
		"proc/meminfo":                   0o444,
		"sys/devices/system/cpu/online":  0o444,
		"proc/sys/kernel/stats_isolated": 0o644,
		"proc":                           os.ModeDir | 0o555,
	} {
		fi, err := os.Stat(filepath.Join(dir, path))
		if err != nil {
			t.Fatalf("stat %s: %v", path, err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != wantMode || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s: mode %v uid %d gid %d, want %v root:root", path, fi.Mode(), st.Uid, st.Gid, wantMode)
		}
		if !fi.IsDir() && fi.Size() != 0 {
			t.Errorf("%s: size %d, want 0 like procfs", path, fi.Size())
		}
	}
}

// TestReadOnly tries every change to the tree; each must fail with an errno and change nothing.
func TestReadOnly(t *testing.T) {
	_, dir := mountForTest(t, Config{StatsIsolated: true})
	meminfo := filepath.Join(dir, "proc/meminfo")
	before, err := os.ReadFile("/proc/swaps")
	if err != nil {
		t.Fatal(err)
	}
	attempts := map[string]func() error{
		"write":    func() error { return os.WriteFile(meminfo, []byte("x"), 0o644) },
		"append":   func() error { _, err := os.OpenFile(meminfo, os.O_WRONLY|os.O_APPEND, 0); return err },
		"truncate": func() error { return os.Truncate(meminfo, 0) },
		"chmod":    func() error { return os.Chmod(meminfo, 0o666) },
		"chown":    func() error { return os.Chown(meminfo, 1, 1) },
		"create":   func() error { _, err := os.Create(filepath.Join(dir, "proc/new")); return err },
		"mkdir":    func() error { return os.Mkdir(filepath.Join(dir, "proc/d"), 0o755) },
		"rename":   func() error { return os.Rename(meminfo, filepath.Join(dir, "proc/m2")) },
		"unlink":   func() error { return os.Remove(meminfo) },
		"rmdir":    func() error { return os.Remove(filepath.Join(dir, "proc/sys/kernel")) },
		"symlink":  func() error { return os.Symlink("/etc/passwd", filepath.Join(dir, "proc/l")) },
		"link":     func() error { return os.Link(meminfo, filepath.Join(dir, "proc/h")) },
		"mknod":    func() error { return unix.Mknod(filepath.Join(dir, "proc/n"), unix.S_IFIFO|0o644, 0) },
		"setxattr": func() error { return unix.Setxattr(meminfo, "user.x", []byte("1"), 0) },
		"swaps":    func() error { return os.WriteFile(filepath.Join(dir, "proc/swaps"), nil, 0) },
	}
	for name, try := range attempts {
		err := try()
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			t.Errorf("%s: got %v, want an errno", name, err)
			continue
		}
		switch errno {
		case syscall.EACCES, syscall.EROFS, syscall.EPERM:
		default:
			t.Errorf("%s: errno %v, want EACCES, EROFS or EPERM", name, errno)
		}
	}
	after, _ := os.ReadFile("/proc/swaps")
	if !bytes.Equal(before, after) {
		t.Error("host /proc/swaps changed")
	}
	if _, err := os.ReadFile(meminfo); err != nil {
		t.Errorf("meminfo unreadable after the attempts: %v", err)
	}
}

// TestSmallReadsSeeOneSnapshot reads /proc/stat a byte at a time and at odd offsets: every
// piece must come from the snapshot the first read made (docs/behaviour.md §1.2).
func TestSmallReadsSeeOneSnapshot(t *testing.T) {
	_, dir := mountForTest(t, Config{StatsIsolated: true})
	f, err := os.Open(filepath.Join(dir, "proc/stat"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var whole []byte
	b := make([]byte, 1)
	for {
		n, err := f.Read(b)
		if n == 0 || err != nil {
			break
		}
		whole = append(whole, b[:n]...)
	}
	if !bytes.HasPrefix(whole, []byte("cpu ")) || !bytes.HasSuffix(whole, []byte("\n")) {
		t.Fatalf("1-byte reads gave a malformed stat:\n%s", whole)
	}
	for _, off := range []int{1, 7, 13, len(whole) / 2, len(whole) - 1} {
		got := make([]byte, 5)
		n, err := f.ReadAt(got, int64(off))
		want := whole[off:min(off+5, len(whole))]
		if !bytes.Equal(got[:n], want) {
			t.Errorf("pread at %d: got %q (%v), want %q", off, got[:n], err, want)
		}
	}
	n, _ := f.ReadAt(make([]byte, 10), int64(len(whole)+100))
	if n != 0 {
		t.Errorf("read past the end returned %d bytes, want 0", n)
	}
}

// TestHostSwitchOffServesHostFiles uses a fixture /proc whose files never change, so the
// passthrough must be byte-identical.
func TestHostSwitchOffServesHostFiles(t *testing.T) {
	root := "../testdata/hosts/debian12-2cpu/proc"
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	_, dir := mountForTest(t, Config{StatsIsolated: false, ProcRoot: root})
	for _, name := range []string{"meminfo", "stat", "cpuinfo", "vmstat", "loadavg", "uptime", "swaps", "diskstats"} {
		want, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "proc", name))
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s with isolation off differs from the host file", name)
		}
	}
}

func TestControlFiles(t *testing.T) {
	srv, dir := mountForTest(t, Config{StatsIsolated: true})
	host := filepath.Join(dir, "proc/sys/kernel/stats_isolated")
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		return string(b)
	}
	if got := read(host); got != "1\n" {
		t.Fatalf("stats_isolated = %q, want 1", got)
	}
	for _, bad := range []string{"2", "yes", "10", "1111111111", "0\n1"} {
		err := os.WriteFile(host, []byte(bad), 0)
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("write %q: got %v, want EINVAL", bad, err)
		}
	}
	if got := read(host); got != "1\n" {
		t.Fatalf("a bad write changed the switch to %q", got)
	}
	if err := os.WriteFile(host, []byte("0\n"), 0); err != nil {
		t.Fatalf("host root writes 0: %v", err)
	}
	if got := read(host); got != "0\n" || hostOn(srv) {
		t.Fatalf("after writing 0: file %q, switch %v", got, hostOn(srv))
	}
	// A non-root writer is refused, and nothing changes.
	cmd := exec.Command("sh", "-c", "printf 1 | dd of="+host+" conv=notrunc status=none")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not permitted") {
		t.Errorf("nobody writing the host switch: err %v, output %q; want EPERM", err, out)
	}
	if got := read(host); got != "0\n" {
		t.Errorf("refused write changed the switch to %q", got)
	}
	if err := os.WriteFile(host, []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
}

// TestParallelReadersLeaveNothingBehind runs 64 readers; afterwards every handle is released.
func TestParallelReadersLeaveNothingBehind(t *testing.T) {
	srv, dir := mountForTest(t, Config{StatsIsolated: true})
	files := []string{"proc/meminfo", "proc/stat", "proc/cpuinfo", "proc/uptime", "proc/loadavg", "proc/vmstat", "sys/devices/system/cpu/online"}
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; time.Now().Before(deadline); j++ {
				b, err := os.ReadFile(filepath.Join(dir, files[(i+j)%len(files)]))
				if err != nil || len(b) == 0 {
					errs <- errors.Join(err, errors.New("empty read"))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// RELEASE is asynchronous: poll until the kernel has sent them all.
	for end := time.Now().Add(5 * time.Second); srv.handles.count() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d handles still open after the readers closed", srv.handles.count())
		}
	}
}
