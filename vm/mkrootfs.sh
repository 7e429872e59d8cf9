#!/bin/sh
# mkrootfs.sh OUT MIRROR DEBCACHE: build the disposable Debian node that vm-test boots.
#
# OUT receives rootfs.img (ext4, made with mkfs.ext4 -d: no loop device, no mount), vmlinuz and
# initrd.img. The work happens in OUT.tmp, renamed to OUT only when complete, so an interrupted
# build is never mistaken for a cached one. DEBCACHE keeps the downloaded .debs between builds.
# The Go helper keys the cache directory on this file's hash: edit the package list here and the
# next run rebuilds.
set -eu

out=$1
mirror=$2
debs=$3
suite=bookworm

# What the guest suites need: systemd as PID 1 and its tools; the kernel and an initramfs able to
# mount a virtio root; podman with runc and crun for the container suite, plus netavark, the
# container-network-stack that containers-common depends on (debootstrap does not resolve virtual
# packages); docker.io for the e2e suite's private dockerd; busybox-static for its small free and
# uptime; nodejs and python3 for readers that parse /proc their own way; fuse3 for fusermount3;
# kmod for the 9p modules.
packages=systemd,systemd-sysv,dbus,udev,kmod,linux-image-amd64,initramfs-tools,procps,util-linux,iproute2,psmisc,podman,runc,crun,conmon,catatonit,netavark,docker.io,busybox-static,nodejs,python3-minimal,fuse3,e2fsprogs,less

work=$out.tmp
root=$work/root
rm -rf "$work"
mkdir -p "$work" "$debs"

debootstrap --variant=minbase --include="$packages" --cache-dir="$(readlink -f "$debs")" \
	"$suite" "$root" "$mirror"

echo procfsd-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 procfsd-vm\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
chroot "$root" passwd -d root >/dev/null

# Nothing periodic or network-bound may run during a test boot.
chroot "$root" systemctl mask --quiet \
	apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
	fstrim.timer dpkg-db-backup.timer systemd-timesyncd.service podman-auto-update.timer \
	podman-restart.service podman-clean-transient.service 2>/dev/null || true
# The e2e suite starts its own dockerd; the packaged one would only slow the boot down.
chroot "$root" systemctl disable --quiet docker.service docker.socket containerd.service

# Containers run from a directory tree (podman run --rootfs): no image registry is reachable.
# The same tree scripts/rootfs.sh builds for the e2e suite on the host: minbase plus the programs
# whose output the suites check.
debootstrap --variant=minbase --include=procps,nodejs,python3-minimal \
	--cache-dir="$(readlink -f "$debs")" "$suite" "$root/opt/rootfs" "$mirror"
rm -rf "$root/opt/rootfs/var/cache/apt/archives"/*.deb

# The guest's only job at boot: mount the host's share and run the runner it carries.
install -m 0755 "$(dirname "$0")/guest/boot.sh" "$root/usr/local/sbin/procfsd-vm-boot"
install -m 0644 "$(dirname "$0")/guest/procfsd-vm-runner.service" \
	"$root/etc/systemd/system/procfsd-vm-runner.service"
chroot "$root" systemctl enable --quiet procfsd-vm-runner.service

cp "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)" "$work/vmlinuz"
cp "$(ls "$root"/boot/initrd.img-* | sort -V | tail -n 1)" "$work/initrd.img"
rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*_Packages

mkfs.ext4 -q -F -L procfsd-vm -d "$root" "$work/rootfs.img" 6G
rm -rf "$root"
rm -rf "$out"
mv "$work" "$out"
