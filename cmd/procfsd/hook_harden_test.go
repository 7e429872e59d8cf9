package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"procfsd/ctlapi"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestParseConfigConfined: a relative root.path stays inside the bundle, and no root.path is
// the host's /.
func TestParseConfigConfined(t *testing.T) {
	st := &specs.State{ID: "c", Bundle: "/run/bundles/c"}
	for _, tt := range []struct{ root, want string }{
		{"rootfs", "/run/bundles/c/rootfs"},
		{"./rootfs", "/run/bundles/c/rootfs"},
		{"a/../rootfs", "/run/bundles/c/rootfs"},
		{"..rootfs", "/run/bundles/c/..rootfs"},
		{"/var/lib/containers/merged", "/var/lib/containers/merged"},
	} {
		c, err := parseConfig(st, []byte(`{"root":{"path":"`+tt.root+`"}}`))
		if err != nil || c.Rootfs != tt.want {
			t.Errorf("root.path %q: %+v, %v; want rootfs %s", tt.root, c, err, tt.want)
		}
	}
	for _, bad := range []string{"../../../..", "..", "../other/rootfs", "rootfs/../../x", "/", "/../.."} {
		if c, err := parseConfig(st, []byte(`{"root":{"path":"`+bad+`"}}`)); err == nil {
			t.Errorf("root.path %q accepted: rootfs %s", bad, c.Rootfs)
		}
	}
}

// TestReadConfigBounded: config.json must be a regular file of at most maxHookInput bytes; a
// FIFO is refused at once, not waited on.
func TestReadConfigBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := readConfig(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO: %q, %v; want a refusal", b, err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxHookInput+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readConfig(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized config: %v; want a refusal", err)
	}
	ok := filepath.Join(dir, "config.json")
	if err := os.WriteFile(ok, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := readConfig(ok); err != nil || string(b) != `{}` {
		t.Errorf("config: %q, %v", b, err)
	}
	if _, err := readBounded(bytes.NewReader(make([]byte, maxHookInput+1)), "stdin"); err == nil {
		t.Error("oversized stdin accepted")
	}
}

// TestResolveIn: a target opens only if no component of its path is a symlink, with openat2
// and with the component walk of older kernels alike.
func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	for _, p := range []string{"proc/sys", "real/cpu", "run"} {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"proc/meminfo", "real/cpu/online", filepath.Join(outside, "meminfo")} {
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, to := range map[string]string{"sys": "real", "proc/stat": outside + "/meminfo", "proc/up": "meminfo", "host": outside} {
		if err := os.Symlink(to, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dir)
	for name, resolve := range map[string]func(int, string, int) (int, error){"openat2": resolveIn, "walk": walkIn} {
		for _, tt := range []struct {
			rel   string
			flags int
			want  error
		}{
			{"proc/meminfo", 0, nil},
			{"real/cpu/online", 0, nil},
			{"run", unix.O_DIRECTORY, nil},
			{"proc/meminfo", unix.O_DIRECTORY, unix.ENOTDIR},
			{"sys/cpu/online", 0, unix.ELOOP},
			{"proc/stat", 0, unix.ELOOP},
			{"proc/up", 0, unix.ELOOP},
			{"host/meminfo", 0, unix.ELOOP},
			{"proc/swaps", 0, unix.ENOENT},
		} {
			fd, err := resolve(dir, tt.rel, tt.flags)
			if err == nil {
				unix.Close(fd)
			}
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Errorf("%s %s: %v, want %v", name, tt.rel, err, tt.want)
			}
		}
	}
}

// blockingReader never returns, as a FIFO nobody writes to.
type blockingReader struct{ c chan struct{} }

func (r blockingReader) Read([]byte) (int, error) { <-r.c; return 0, io.EOF }

// TestHookDeadline: input that never ends fails the hook at its deadline, with an error that
// says so.
func TestHookDeadline(t *testing.T) {
	var stderr bytes.Buffer
	stdin := blockingReader{make(chan struct{})}
	defer close(stdin.c)
	r := newHookRun(hookFlags{clientFlags: clientFlags{timeout: time.Second}, deadline: 50 * time.Millisecond}, &stderr)
	if err := r.within(stdin); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("within: %v; want the deadline", err)
	}
}

// TestHookUnansweredDaemon: a control socket that takes the connection and never answers (a
// stopped daemon) lets the container start without procfsd's files, with one line; with
// --fail-closed it is an error.
func TestHookUnansweredDaemon(t *testing.T) {
	state := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(state, ctlapi.SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // never accepted: the connection waits in the backlog
	c := &hookContainer{ID: "c1", Rootfs: t.TempDir()}
	for _, failClosed := range []bool{false, true} {
		var stderr bytes.Buffer
		r := newHookRun(hookFlags{clientFlags: clientFlags{stateDir: state, timeout: 100 * time.Millisecond}, deadline: time.Minute, failClosed: failClosed}, &stderr)
		r.id.Store(c.ID)
		err := r.hook(c)
		if !failClosed && (err != nil || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "starts without procfsd's files")) {
			t.Errorf("fail-open: %v, stderr %q; want nil and one line", err, stderr.String())
		}
		if failClosed && (!errors.Is(err, ctlapi.ErrDaemonDown) || stderr.Len() != 0) {
			t.Errorf("--fail-closed: %v, stderr %q; want the daemon down", err, stderr.String())
		}
	}
}

// TestMountSetPlaceAndClose: a clone is placed on the target descriptor read-only, also where
// the read-only flag is set by a remount after the move (kernels without mount_setattr), and
// close unmounts exactly what was placed. It runs in a private mount namespace of its own.
func TestMountSetPlaceAndClose(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts need root")
	}
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	for _, p := range []string{src, dst} {
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		// The thread is never unlocked: it ends with the goroutine, namespace and all.
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Errorf("make / private: %v", err)
			return
		}
		for _, remount := range []bool{false, true} {
			tr, err := clone(src, "dst", false)
			if err != nil {
				t.Errorf("clone: %v", err)
				return
			}
			if remount {
				// As on a kernel without mount_setattr: a writable clone, remounted once moved.
				unix.Close(tr.fd)
				if tr.fd, err = unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC); err != nil {
					t.Errorf("open_tree: %v", err)
					return
				}
				tr.remount = true
			}
			target, err := unix.Open(dst, unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Errorf("open target: %v", err)
				return
			}
			var set mountSet
			err = set.place(tr, target)
			unix.Close(target)
			if err != nil {
				t.Errorf("place (remount %v): %v", remount, err)
				return
			}
			if b, err := os.ReadFile(dst); err != nil || string(b) != src {
				t.Errorf("remount %v: dst reads %q, %v; want the source's content", remount, b, err)
			}
			if err := os.WriteFile(dst, nil, 0o644); !errors.Is(err, unix.EROFS) {
				t.Errorf("remount %v: write to the mount: %v, want EROFS", remount, err)
			}
			set.close()
			if b, err := os.ReadFile(dst); err != nil || string(b) != dst {
				t.Errorf("remount %v: after close dst reads %q, %v; want its own content", remount, b, err)
			}
			if err := set.place(tr, target); !errors.Is(err, errSetClosed) {
				t.Errorf("place after close: %v", err)
			}
			unix.Close(tr.fd)
		}
	}()
	<-done
}
