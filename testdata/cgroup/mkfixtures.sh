#!/bin/sh
# Regenerates the synthetic cgroup and /proc/<pid> fixture trees used by cgroupview's tests.
# Run from the repository root: sh testdata/cgroup/mkfixtures.sh
# What each tree proves is in testdata/cgroup/README.md. Values are chosen so that a reader
# that takes the wrong level, the wrong key or the wrong file gets a different number.
set -eu
CG=testdata/cgroup
PP=testdata/proc-pids
rm -rf "$CG/v1-docker" "$CG/v2-k8s" "$CG/v2-systemd" "$CG/hybrid" "$PP"

# put FILE CONTENT... : write CONTENT (printf %b) to FILE, creating directories.
put() { f=$1; shift; mkdir -p "$(dirname "$f")"; printf '%b' "$*" > "$f"; }

# proc ROOT PID COMM STATE START TGID NSPID NSINODE CGROUP
proc() {
	d=$1/$2
	put "$d/stat" "$2 ($3) $4 1 $2 $2 0 -1 4194560 120 0 0 0 10 5 0 0 20 0 1 0 $5 12345678 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	put "$d/status" "Name:\t$3\nUmask:\t0022\nState:\t$4 (x)\nTgid:\t$6\nNgid:\t0\nPid:\t$2\nPPid:\t1\nTracerPid:\t0\nNSpid:\t$7\nNSsid:\t1\n"
	put "$d/cgroup" "$9"
	mkdir -p "$d/ns"
	ln -s "pid:[$8]" "$d/ns/pid"
}

HOSTNS=4026531836
UNLIM=9223372036854771712
ID=3f2a9c1e7b5d

# ---------------------------------------------------------------- v1-docker
R=$CG/v1-docker
v1cg() { printf '12:pids:%s\n11:blkio:%s\n7:cpu,cpuacct:%s\n5:cpuset:%s\n4:memory:%s\n1:name=systemd:%s\n0::/\n' "$1" "$1" "$1" "$1" "$1" "$1"; }
M=$R/memory
put $M/memory.limit_in_bytes "$UNLIM\n"
put $M/memory.usage_in_bytes "3000000000\n"
put $M/memory.memsw.limit_in_bytes "$UNLIM\n"
put $M/memory.memsw.usage_in_bytes "3000000000\n"
put $M/memory.stat "cache 1\nrss 2\ntotal_cache 100\ntotal_rss 200\n"
put $M/tasks "1\n100\n"
put $M/docker/memory.limit_in_bytes "8589934592\n"
put $M/docker/memory.memsw.limit_in_bytes "$UNLIM\n"
D=$M/docker/$ID
put $D/memory.limit_in_bytes "1073741824\n"          # 1 GiB here, but 512 MiB below in child is ignored
put $D/memory.usage_in_bytes "104857600\n"
put $D/memory.memsw.limit_in_bytes "1610612736\n"    # memsw 1.5 GiB - mem 1 GiB = 512 MiB swap
put $D/memory.memsw.usage_in_bytes "110000000\n"
put $D/memory.stat "cache 11\nrss 22\nrss_huge 33\nshmem 44\nmapped_file 55\ndirty 66\nwriteback 77\npgfault 88\nactive_file 99\ninactive_file 111\nhierarchical_memory_limit 1073741824\ntotal_cache 50000000\ntotal_rss 40000000\ntotal_rss_huge 2097152\ntotal_shmem 4096\ntotal_mapped_file 8192\ntotal_dirty 12288\ntotal_writeback 0\ntotal_swap 5142400\ntotal_pgpgin 1000\ntotal_pgpgout 900\ntotal_pgfault 7000\ntotal_pgmajfault 3\ntotal_inactive_anon 30000000\ntotal_active_anon 10000000\ntotal_inactive_file 45000000\ntotal_active_file 5000000\ntotal_unevictable 0\n"
put $D/tasks "1000\n1002\n1003\n"
put $D/child/memory.limit_in_bytes "536870912\n"
put $D/child/memory.memsw.limit_in_bytes "536870912\n"
put $D/child/tasks "1001\n"
# old: a kernel without memsw (swapaccount=0), usage_all, or throttle blkio files
O=$M/docker/old
put $O/memory.limit_in_bytes "$UNLIM\n"
put $O/memory.usage_in_bytes "4096\n"
put $O/memory.stat "total_cache 0\ntotal_rss 4096\n"
C=$R/cpu,cpuacct
ln -s cpu,cpuacct $R/cpu
ln -s cpu,cpuacct $R/cpuacct
put $C/cpu.cfs_quota_us "-1\n"
put $C/cpu.cfs_period_us "100000\n"
put $C/cpuacct.usage_all "cpu user system\n0 1 1\n1 1 1\n"
put $C/docker/cpu.cfs_quota_us "300000\n"          # 3 CPUs for all of docker
put $C/docker/cpu.cfs_period_us "100000\n"
put $C/docker/$ID/cpu.cfs_quota_us "75000\n"       # 1.5 CPUs: the minimum
put $C/docker/$ID/cpu.cfs_period_us "50000\n"
put $C/docker/$ID/cpuacct.usage_all "cpu user system\n0 3000000000 1000000000\n1 2000000000 500000000\n"
# The exact total; usage_all (tick-sampled) only gives the user/system ratio and sums higher.
put $C/docker/$ID/cpuacct.usage "6400000000\n"
put $C/docker/$ID/tasks "1000\n1002\n1003\n"
put $C/docker/$ID/child/cpu.cfs_quota_us "10000\n" # below the container root: ignored
put $C/docker/$ID/child/cpu.cfs_period_us "100000\n"
put $C/docker/$ID/child/tasks "1001\n"
put $C/docker/old/cpu.cfs_quota_us "-1\n"
put $C/docker/old/cpu.cfs_period_us "100000\n"
put $C/docker/old/cpuacct.usage "1000000000\n"
put $C/docker/old/cpuacct.stat "user 300\nsystem 100\n"
put $C/docker/old/tasks ""
S=$R/cpuset
put $S/cpuset.cpus "0-3\n"
put $S/cpuset.effective_cpus "0-3\n"
put $S/docker/cpuset.cpus "0-3\n"
put $S/docker/$ID/cpuset.cpus "1,3\n"
put $S/docker/$ID/cpuset.effective_cpus "1,3\n"
put $S/docker/$ID/child/cpuset.cpus "3\n"
put $S/docker/old/cpuset.cpus "\n"                 # empty: walk up to docker/
put $S/docker/old/cpuset.effective_cpus "\n"
B=$R/blkio
put $B/docker/$ID/blkio.throttle.io_service_bytes_recursive "8:0 Read 4096000\n8:0 Write 8192000\n8:0 Sync 1\n8:0 Async 2\n8:0 Discard 512\n8:0 Total 12288512\n253:1 Read 10\n253:1 Write 20\n253:1 Sync 0\n253:1 Async 0\n253:1 Discard 0\n253:1 Total 30\nTotal 12288542\n"
put $B/docker/$ID/blkio.throttle.io_serviced_recursive "8:0 Read 100\n8:0 Write 200\n8:0 Sync 1\n8:0 Async 2\n8:0 Discard 1\n8:0 Total 301\n253:1 Read 1\n253:1 Write 2\n253:1 Sync 0\n253:1 Async 0\n253:1 Discard 0\n253:1 Total 3\nTotal 304\n"
put $B/docker/$ID/blkio.io_service_bytes_recursive "8:0 Read 1\n8:0 Write 1\nTotal 2\n"
put $B/docker/old/blkio.io_service_bytes_recursive "8:16 Read 7\n8:16 Write 9\nTotal 16\n"
put $B/docker/old/blkio.io_serviced_recursive "8:16 Read 1\n8:16 Write 2\nTotal 3\n"
put $B/docker/none/blkio.weight "500\n"
put $R/pids/docker/$ID/tasks "1000\n1002\n1003\n"
put $R/pids/docker/$ID/child/tasks "1001\n"
put $R/devices/tasks ""

P=$PP/v1-docker
proc $P 1 systemd S 1 1 "1" $HOSTNS "$(v1cg /)"
proc $P 100 bash S 5000 100 "100" $HOSTNS "$(v1cg /user.slice)"
proc $P 101 bash S 6000 100 "101" $HOSTNS "$(v1cg /user.slice)"   # a thread of 100
proc $P 1000 "my (weird) app)" S 700000 1000 "1000\t1" 4026532500 "$(v1cg /docker/$ID)"
proc $P 1001 worker D 700500 1001 "1001\t7" 4026532500 "$(v1cg /docker/$ID/child)"
proc $P 1002 "my (weird) app)" R 700100 1000 "1002\t2" 4026532500 "$(v1cg /docker/$ID)"
# 1003 is listed in tasks but has exited: no /proc entry.

# ---------------------------------------------------------------- v2-k8s
R=$CG/v2-k8s
POD=kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1e.slice
put $R/cgroup.controllers "cpuset cpu io memory hugetlb pids\n"
put $R/cgroup.subtree_control "cpuset cpu io memory pids\n"
put $R/cpuset.cpus.effective "0-7\n"
put $R/cpu.stat "usage_usec 9\nuser_usec 5\nsystem_usec 4\n"
put $R/kubepods.slice/memory.max "17179869184\n"
put $R/kubepods.slice/cpu.max "max 100000\n"
put $R/kubepods.slice/memory.swap.max "max\n"
put $R/kubepods.slice/kubepods-burstable.slice/memory.max "max\n"
put $R/kubepods.slice/kubepods-burstable.slice/cpu.max "max 100000\n"
put $R/$POD/memory.max "536870912\n"                # the pod carries the limits
put $R/$POD/cpu.max "150000 100000\n"
put $R/$POD/memory.swap.max "0\n"
put $R/$POD/cpuset.cpus "\n"
put $R/$POD/cpuset.cpus.effective "2-3\n"
A=$R/$POD/cri-containerd-app.scope
put $A/memory.max "max\n"
put $A/cpu.max "max 100000\n"
put $A/memory.swap.max "max\n"
put $A/memory.current "50000000\n"
put $A/memory.swap.current "0\n"
put $A/memory.stat "anon 20000000\nfile 25000000\nkernel 1000000\nkernel_stack 65536\nshmem 4096\nfile_mapped 8192\nfile_dirty 4096\nfile_writeback 0\nanon_thp 0\ninactive_anon 15000000\nactive_anon 5000000\ninactive_file 20000000\nactive_file 5000000\nunevictable 0\nslab_reclaimable 600000\nslab_unreclaimable 300000\nslab 900000\npgfault 12345\npgmajfault 6\nworkingset_refault_anon 0\nworkingset_refault_file 7\n"
put $A/cpu.stat "usage_usec 3500000\nuser_usec 2500000\nsystem_usec 1000000\nnr_periods 10\nnr_throttled 2\nthrottled_usec 1000\n"
put $A/io.stat "259:0 rbytes=1048576 wbytes=2097152 rios=16 wios=32 dbytes=0 dios=0\n8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=512 dios=1 cost.vrate=100.00\n"
put $A/cpu.pressure "some avg10=1.00 avg60=0.50 avg300=0.10 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
put $A/memory.pressure "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
put $A/cgroup.threads "2001\n2002\n"
S2=$R/$POD/cri-containerd-pause.scope
put $S2/memory.max "max\n"
put $S2/cgroup.threads "2000\n"

P=$PP/v2-k8s
proc $P 1 systemd S 1 1 "1" $HOSTNS "0::/init.scope\n"
proc $P 2000 pause S 900000 2000 "2000\t1" 4026532600 "0::/$POD/cri-containerd-pause.scope\n"
proc $P 2001 app S 900100 2001 "2001\t7" 4026532600 "0::/$POD/cri-containerd-app.scope\n"
proc $P 2002 app R 900200 2001 "2002\t8" 4026532600 "0::/$POD/cri-containerd-app.scope\n"

# ---------------------------------------------------------------- v2-systemd
R=$CG/v2-systemd
W=machine.slice/machine-web.scope
put $R/cgroup.controllers "cpuset cpu io memory pids\n"
put $R/cpuset.cpus.effective "0-3\n"
put $R/machine.slice/memory.max "max\n"
put $R/machine.slice/cpu.max "max 100000\n"
put $R/$W/memory.max "1073741824\n"
put $R/$W/cpu.max "200000 100000\n"
put $R/$W/memory.current "300000000\n"
put $R/$W/memory.swap.max "max\n"
put $R/$W/memory.swap.current "4096\n"
put $R/$W/memory.stat "anon 1\nfile 2\n"
put $R/$W/cpu.stat "usage_usec 3\nuser_usec 2\nsystem_usec 1\n"
put $R/$W/cgroup.threads ""                       # v2: no processes in inner cgroups
put $R/$W/init.scope/cgroup.threads "3000\n"
put $R/$W/init.scope/memory.max "max\n"
put $R/$W/system.slice/cgroup.threads ""
put $R/$W/system.slice/nginx.service/cgroup.threads "3001\n3002\n"
put $R/$W/system.slice/nginx.service/memory.max "268435456\n"  # below the container root: ignored

P=$PP/v2-systemd
proc $P 1 systemd S 1 1 "1" $HOSTNS "0::/init.scope\n"
proc $P 3000 systemd S 800000 3000 "3000\t1" 4026532700 "0::/$W/init.scope\n"
proc $P 3001 nginx S 800100 3001 "3001\t40" 4026532700 "0::/$W/system.slice/nginx.service\n"
proc $P 3002 nginx D 800200 3001 "3002\t41" 4026532700 "0::/$W/system.slice/nginx.service\n"

# ---------------------------------------------------------------- hybrid
R=$CG/hybrid
U=system.slice/docker-$ID.scope
hycg() { printf '12:pids:%s\n11:blkio:%s\n7:cpu,cpuacct:%s\n5:cpuset:%s\n4:memory:%s\n1:name=systemd:%s\n0::%s\n' "$1" "$1" "$1" "$1" "$1" "$2" "$2"; }
put $R/memory/memory.limit_in_bytes "$UNLIM\n"
put $R/memory/$U/memory.limit_in_bytes "268435456\n"
put $R/memory/$U/memory.usage_in_bytes "1048576\n"
put $R/memory/$U/memory.stat "total_cache 4096\ntotal_rss 8192\n"
C=$R/cpu,cpuacct
ln -s cpu,cpuacct $R/cpu
ln -s cpu,cpuacct $R/cpuacct
put $C/cpu.cfs_quota_us "-1\n"
put $C/cpu.cfs_period_us "100000\n"
put $C/system.slice/cpu.cfs_quota_us "-1\n"
put $C/system.slice/cpu.cfs_period_us "100000\n"
put $C/$U/cpu.cfs_quota_us "50000\n"
put $C/$U/cpu.cfs_period_us "100000\n"
put $C/$U/cpuacct.usage_all "cpu user system\n0 10 20\n"
put $C/$U/cpuacct.usage "30\n"
put $C/$U/tasks "4000\n4001\n"
put $R/cpuset/cpuset.cpus "0-1\n"
put $R/cpuset/$U/cpuset.cpus "0\n"
put $R/blkio/$U/blkio.throttle.io_service_bytes_recursive "8:0 Read 1\n8:0 Write 2\nTotal 3\n"
put $R/blkio/$U/blkio.throttle.io_serviced_recursive "8:0 Read 3\n8:0 Write 4\nTotal 7\n"
put $R/pids/$U/tasks "4000\n4001\n"
put $R/systemd/$U/tasks "4000\n4001\n"
put $R/unified/cgroup.controllers "hugetlb\n"
put $R/unified/cpu.pressure "some avg10=9.99 avg60=9.99 avg300=9.99 total=999\n"
put $R/unified/$U/cpu.pressure "some avg10=0.25 avg60=0.10 avg300=0.02 total=4242\n"
put $R/unified/$U/io.pressure "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1\n"
put $R/unified/$U/cgroup.threads "4000\n4001\n"

P=$PP/hybrid
proc $P 1 systemd S 1 1 "1" $HOSTNS "$(hycg / /init.scope)"
proc $P 4000 sh S 600000 4000 "4000\t1" 4026532800 "$(hycg /$U /$U)"
proc $P 4001 sleep R 600100 4001 "4001\t2" 4026532800 "$(hycg /$U /$U)"
