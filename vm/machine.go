package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrTimeout is returned by [Machine.Run] when the guest was still running at the deadline and
// was killed.
var ErrTimeout = errors.New("vm: guest still running at the deadline")

// KernelArgs is the guest kernel command line: a virtio root, the serial console, pure cgroup v2
// under systemd, and PSI on (some kernels build it default-off). panic=-1 with qemu's -no-reboot
// turns a guest panic into a prompt qemu exit instead of a hang. apparmor=0: Debian's kernel
// enables AppArmor, and dockerd then refuses to start containers without apparmor_parser, which
// the guest does not need otherwise.
var KernelArgs = []string{
	"root=/dev/vda", "rw", "console=ttyS0,115200", "panic=-1",
	"systemd.unified_cgroup_hierarchy=1", "cgroup_no_v1=all", "psi=1", "apparmor=0",
	"systemd.show_status=1", "net.ifnames=0", "random.trust_cpu=on",
}

// Machine is one boot of an image.
type Machine struct {
	Image   Image
	Share   string // host directory the guest mounts at /mnt/share (9p tag "share")
	Console string // file receiving the serial console
	Memory  int    // MiB
	CPUs    int
	Accel   string // qemu accelerator: "tcg" (default) or "kvm"
}

// Args is the qemu-system-x86_64 command line for m. The root disk is opened with snapshot=on:
// guest writes go to a temporary overlay, so the cached image never changes.
func (m Machine) Args() []string {
	accel := m.Accel
	if accel == "" {
		accel = "tcg"
	}
	return []string{
		"-machine", "q35", "-accel", accel, "-cpu", "max",
		"-m", strconv.Itoa(m.Memory), "-smp", strconv.Itoa(m.CPUs),
		"-nodefaults", "-display", "none", "-no-reboot",
		"-serial", "file:" + m.Console,
		"-kernel", m.Image.Kernel(), "-initrd", m.Image.Initrd(),
		"-append", strings.Join(KernelArgs, " "),
		"-drive", "file=" + m.Image.Rootfs() + ",if=virtio,format=raw,snapshot=on",
		"-virtfs", "local,path=" + m.Share + ",mount_tag=share,security_model=none,id=share",
	}
}

// Run boots m and waits for the guest to power off. When ctx ends first, qemu is killed and Run
// returns an error wrapping [ErrTimeout]. qemu also dies with the calling process (a killed test
// binary must not leave a guest spinning on the CPUs).
func (m Machine) Run(ctx context.Context) error {
	cmd := exec.Command("qemu-system-x86_64", m.Args()...)
	out, err := os.Create(m.Console + ".qemu")
	if err != nil {
		return fmt.Errorf("run qemu: %w", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run qemu: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			msg, _ := os.ReadFile(m.Console + ".qemu")
			return fmt.Errorf("run qemu: %w: %s", err, strings.TrimSpace(string(msg)))
		}
		return nil
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		deadline, _ := ctx.Deadline()
		return fmt.Errorf("%w (killed at %s)", ErrTimeout, deadline.Format(time.TimeOnly))
	}
}

// Tail returns the last n lines of the file at path, or a note saying why it cannot.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
