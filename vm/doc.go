// Package vm boots a disposable Debian node and runs procfsd's end-to-end suites inside it.
//
// The build machine may have cgroup v1 and no systemd, while most users run pure cgroup v2 under
// systemd. This package proves procfsd on the latter, for real:
//
//   - [BuildImage] debootstraps a Debian root file system (systemd, podman, runc, the Debian
//     kernel) into an ext4 image with mkfs.ext4 -d, cached under a key derived from the build
//     script, so a changed package list rebuilds and an unchanged one boots at once.
//   - [Machine] boots it with qemu-system-x86_64 (TCG by default: no KVM needed) on pure cgroup v2
//     with systemd as PID 1. The root disk is opened with snapshot=on, so every boot starts from
//     the same state. A virtio-9p share carries the fresh binaries and the guest runner in, and the
//     results out. The serial console goes to a log file.
//   - The guest runs each suite named in the share's suites file, records its log and exit status
//     under out/, writes out/done and powers off; [ReadResults] brings them back.
//
// TestVM (PROCFSD_VM=1, make vm-test) ties these together. Without PROCFSD_VM=1 nothing boots;
// with it, anything missing is a failure, never a skip.
package vm
