#!/bin/bash
# v2-reader.sh MNT: what a container sees. Run in the cgroup under test (a transient unit), it
# makes a container the way LXCFS's recipes do, a new pid and mount namespace with procfsd's files
# from MNT bind-mounted over /proc and the CPU online file, and runs report.sh in it.
read -r -d '' inside <<'INSIDE'
set -eu
mnt=$1
for f in cpuinfo meminfo stat diskstats uptime loadavg swaps vmstat; do
	mount --bind "$mnt/proc/$f" "/proc/$f"
done
for r in cpu memory io; do
	mount --bind "$mnt/proc/pressure/$r" "/proc/pressure/$r"
done
mount --bind "$mnt/sys/devices/system/cpu/online" /sys/devices/system/cpu/online
exec bash "$2"
INSIDE
exec unshare --pid --fork --kill-child --mount --mount-proc --propagation private \
	bash -c "$inside" v2-reader "$1" "$(dirname "$0")/report.sh"
