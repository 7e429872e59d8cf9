package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMachineArgs(t *testing.T) {
	m := Machine{
		Image: Image{Dir: "/c/image-k"}, Share: "/r/share", Console: "/r/console.log",
		Memory: 4096, CPUs: 4,
	}
	args := m.Args()
	// Each pair is a flag and the value it must carry: the promises the guest suites rely on.
	for _, want := range [][2]string{
		{"-accel", "tcg"},
		{"-smp", "4"},
		{"-m", "4096"},
		{"-serial", "file:/r/console.log"},
		{"-kernel", "/c/image-k/vmlinuz"},
		{"-initrd", "/c/image-k/initrd.img"},
		{"-drive", "file=/c/image-k/rootfs.img,if=virtio,format=raw,snapshot=on"},
		{"-virtfs", "local,path=/r/share,mount_tag=share,security_model=none,id=share"},
	} {
		i := slices.Index(args, want[0])
		if i < 0 || i+1 >= len(args) || args[i+1] != want[1] {
			t.Errorf("qemu args lack %s %s: %q", want[0], want[1], args)
		}
	}
	i := slices.Index(args, "-append")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("qemu args lack -append: %q", args)
	}
	for _, want := range []string{"systemd.unified_cgroup_hierarchy=1", "console=ttyS0,115200", "psi=1", "apparmor=0"} {
		if !slices.Contains(strings.Fields(args[i+1]), want) {
			t.Errorf("kernel command line %q lacks %s", args[i+1], want)
		}
	}
	if !slices.Contains(args, "-no-reboot") {
		t.Errorf("qemu args lack -no-reboot (a guest panic would reboot forever): %q", args)
	}
}

// TestMachineRunTimeout proves the bound: a qemu that never exits is killed at the deadline and
// reported as ErrTimeout. A stand-in qemu-system-x86_64 that sleeps keeps the test fast and
// independent of qemu being installed.
func TestMachineRunTimeout(t *testing.T) {
	bin := t.TempDir()
	fake := "#!/bin/sh\necho booting >&2\nexec sleep 60\n"
	if err := os.WriteFile(filepath.Join(bin, "qemu-system-x86_64"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	m := Machine{Share: dir, Console: filepath.Join(dir, "console.log"), Memory: 64, CPUs: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := m.Run(ctx)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Run returned %s after the deadline, want promptly", d)
	}
}

func TestMachineRunFailure(t *testing.T) {
	bin := t.TempDir()
	fake := "#!/bin/sh\necho 'qemu: could not load kernel' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "qemu-system-x86_64"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	m := Machine{Share: dir, Console: filepath.Join(dir, "console.log"), Memory: 64, CPUs: 1}
	err := m.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "could not load kernel") {
		t.Fatalf("Run = %v, want qemu's own message", err)
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	if err := os.WriteFile(path, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Tail(path, 2); got != "c\nd" {
		t.Errorf("Tail(2) = %q, want %q", got, "c\nd")
	}
	if got := Tail(path, 10); got != "a\nb\nc\nd" {
		t.Errorf("Tail(10) = %q, want the whole file", got)
	}
	if got := Tail(filepath.Join(t.TempDir(), "absent"), 2); !strings.Contains(got, "no ") {
		t.Errorf("Tail of a missing file = %q, want a note", got)
	}
}

func TestImageKeyCoversBakedFiles(t *testing.T) {
	key, err := ImageKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != 16 {
		t.Errorf("ImageKey = %q, want 16 hex digits", key)
	}
	for _, f := range []string{"mkrootfs.sh", "guest/boot.sh", "guest/procfsd-vm-runner.service"} {
		if _, err := imageFiles.Open(f); err != nil {
			t.Errorf("image key does not cover %s: %v", f, err)
		}
	}
}
