#!/bin/bash
# suite-boot: the node is what the other suites take for granted: systemd as PID 1 on a pure
# cgroup v2 hierarchy with the controllers and PSI the v2 formulas read.
. "$PROCFSD_VM_GUEST/lib.sh"

expect_eq "PID 1" systemd "$(cat /proc/1/comm)"
expect_eq "/sys/fs/cgroup file system" cgroup2fs "$(stat -fc %T /sys/fs/cgroup)"
expect_eq "cgroup v1 mounts" 0 "$(awk '$3 == "cgroup"' /proc/mounts | wc -l)"
expect_eq "own cgroup line" "0::/system.slice/procfsd-vm-runner.service" "$(cat /proc/self/cgroup)"
for c in cpuset cpu io memory pids; do
	expect_cmd "controller $c available" grep -qw "$c" /sys/fs/cgroup/cgroup.controllers
done
for r in cpu memory io; do
	expect_cmd "PSI /proc/pressure/$r" test -r "/proc/pressure/$r"
	expect_cmd "PSI $r.pressure in the root's children" test -r "/sys/fs/cgroup/system.slice/$r.pressure"
done
expect_eq "online CPUs" 0-3 "$(cat /sys/devices/system/cpu/online)"
expect_cmd "/dev/fuse" test -c /dev/fuse
failed=$(systemctl list-units --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')
expect_eq "failed systemd units" "" "$failed"
for b in podman runc crun dockerd node python3 busybox unshare nsenter systemd-run; do
	expect_cmd "$b installed" command -v "$b"
done
expect_cmd "container tree /opt/rootfs has procps, node, python3" \
	test -x /opt/rootfs/usr/bin/free -a -x /opt/rootfs/usr/bin/node -a -x /opt/rootfs/usr/bin/python3
echo "kernel $(uname -r), systemd $(systemctl --version | head -n 1), podman $(podman --version)"
finish
