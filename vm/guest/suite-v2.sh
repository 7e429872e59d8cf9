#!/bin/bash
# suite-v2: procfsd's cgroup v2 formulas against limits systemd itself sets, read by real programs
# in a container-like namespace and straight from the mount. Each case first checks its premise
# (the cgroup files systemd wrote), then the values procfsd serves.
. "$PROCFSD_VM_GUEST/lib.sh"

mnt=/run/procfsd-v2/mnt
cg=/sys/fs/cgroup
host_memtotal_kb=$(kv /proc/meminfo MemTotal)

systemd-run --quiet --unit=procfsd-v2 -- /usr/local/bin/procfsd serve --mountpoint "$mnt" \
	--state-dir /run/procfsd-v2/state --log-format console
if ! wait_for 30 test -r "$mnt/proc/meminfo"; then
	fail "procfsd did not mount $mnt within 30s"
	journalctl -u procfsd-v2 --no-pager
	finish
fi
pass "procfsd serving $mnt ($(findmnt -no FSTYPE "$mnt"))"

# in_unit NAME PROPERTY... -- CMD...: run CMD in a transient service with the given systemd-run
# options (its own cgroup), wait for it and print its output.
in_unit() {
	local name=$1
	shift
	systemd-run --quiet --wait --pipe --collect --unit="procfsd-v2-$name" \
		-p MemoryAccounting=yes -p CPUAccounting=yes -p IOAccounting=yes "$@"
}


echo "--- pod: slice memory.max 512M, cpu.max 150000 100000; container memory.max 1G, cpuset 1-3"
cat >/run/systemd/system/procfsdtest.slice <<'UNIT'
[Slice]
MemoryAccounting=yes
CPUAccounting=yes
MemoryMax=512M
CPUQuota=150%
UNIT
systemctl daemon-reload
report=$(in_unit pod --slice=procfsdtest.slice -p MemoryMax=1G -p AllowedCPUs=1-3 -- \
	bash -c 'cat /proc/self/cgroup; bash "$0" "$1"' "$PROCFSD_VM_GUEST/v2-reader.sh" "$mnt")
echo "$report"
expect_eq "pod premise: slice memory.max" 536870912 "$(cat $cg/procfsdtest.slice/memory.max)"
expect_eq "pod premise: slice cpu.max" "150000 100000" "$(cat $cg/procfsdtest.slice/cpu.max)"
expect_report pod "$report" meminfo_total_kb=524288 free_total_bytes=536870912 \
	node_totalmem=536870912 cpuinfo_processors=2 cpuinfo_numbers=0,1 cpuinfo_apicids=1,2 \
	online=0-1 stat_cpu_lines=2 \
	getconf_nprocessors_onln=2 python_cpu_count=2 node_cpus=2
expect_range "pod: container uptime" 0 30 "$(report_value "$report" uptime_seconds)"

echo "--- quota: memory.max 256M, cpu.max 50000 100000"
report=$(in_unit quota -p MemoryMax=256M -p CPUQuota=50% -- \
	bash "$PROCFSD_VM_GUEST/v2-reader.sh" "$mnt")
echo "$report"
expect_report quota "$report" meminfo_total_kb=262144 free_total_bytes=268435456 \
	cpuinfo_processors=1 online=0 stat_cpu_lines=1 getconf_nprocessors_onln=1 python_cpu_count=1

echo "--- cpuset: cpuset.cpus 2, no memory limit"
report=$(in_unit cpuset -p AllowedCPUs=2 -- \
	bash -c 'echo "premise_cpus $(cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/cpuset.cpus.effective)"; bash "$0" "$1"' \
	"$PROCFSD_VM_GUEST/v2-reader.sh" "$mnt")
echo "$report"
expect_report cpuset "$report" premise_cpus=2 meminfo_total_kb="$host_memtotal_kb" \
	cpuinfo_processors=1 cpuinfo_numbers=0 cpuinfo_apicids=2 online=0 stat_cpu_lines=1 \
	getconf_nprocessors_onln=1 python_cpu_count=1 node_cpus=1

echo "--- usage: 64 MiB anonymous memory held in a 256M container"
# MemFree = memory.max - memory.current, so MemTotal - MemFree must be the cgroup's own
# memory.current, read just before and after, give or take 1 MiB of churn.
usage=$(in_unit usage -p MemoryMax=256M -- python3 -c '
import os, time
cg = "/sys/fs/cgroup" + open("/proc/self/cgroup").read().strip().split(":", 2)[2]
buf = bytearray(64 << 20)
for i in range(0, len(buf), 4096):
    buf[i] = 1
def current():
    return int(open(cg + "/memory.current").read())
before = current()
mem = {}
for line in open("'"$mnt"'/proc/meminfo"):
    k, v = line.split(":")
    mem[k] = int(v.split()[0]) * 1024
after = current()
print(before, mem["MemTotal"] - mem["MemFree"], after, mem["MemTotal"], mem["MemAvailable"])
')
read -r before used after total avail <<<"$usage"
echo "memory.current before $before, MemTotal-MemFree $used, memory.current after $after"
expect_eq "usage: MemTotal" 268435456 "$total"
expect_range "usage: MemTotal-MemFree vs memory.current" $((before - (1 << 20))) $((after + (1 << 20))) "$used"
expect_range "usage: MemTotal-MemFree covers the 64 MiB held" $((64 << 20)) $((256 << 20)) "$used"
expect_range "usage: MemAvailable" 0 "$total" "$avail"

echo "--- psi: two busy loops on one CPU; the container's pressure totals, not the host's"
# Between two reads of the cgroup's own cpu.pressure, procfsd's /proc/pressure/cpu must fall in
# between; the host total (everything since boot under emulation) is far outside.
psi=$(in_unit psi -p AllowedCPUs=0 -- bash -c '
cg=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)
total() { sed -n "s/^$2 .*total=\([0-9]*\)$/\1/p" "$1"; }
timeout 3 sh -c "while :; do :; done" & timeout 3 sh -c "while :; do :; done" & wait
for r in cpu memory io; do
	echo "$r $(total $cg/$r.pressure some) $(total "$0/proc/pressure/$r" some) $(total $cg/$r.pressure some) $(total /proc/pressure/$r some)"
done
head -n 1 "$0/proc/pressure/cpu"' "$mnt")
echo "$psi"
while read -r r before got after host; do
	case $r in cpu | memory | io) ;; *) continue ;; esac
	expect_range "psi: $r some total" "$before" "$after" "$got"
	[ "$r" = cpu ] && expect_range "psi: cpu pressure of the busy container" 1 "$after" "$got"
	[ "$host" -gt "$after" ] && pass "psi: $r differs from the host's total $host"
done <<<"$psi"
expect_cmd "psi: file format" grep -q '^some avg10=[0-9.]* avg60=[0-9.]* avg300=[0-9.]* total=[0-9]*$' \
	<<<"$(tail -n 1 <<<"$psi")"

echo "--- io: 16 MiB written and read back with O_DIRECT; diskstats from io.stat"
dev=$(cat /sys/block/vda/dev)
io=$(in_unit io -- bash -c '
cg=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)
dd if=/dev/zero of=/var/tmp/procfsd-io bs=1M count=16 oflag=direct conv=fsync status=none
dd if=/var/tmp/procfsd-io of=/dev/null bs=1M iflag=direct status=none
rm -f /var/tmp/procfsd-io
sync
for try in 1 2 3 4 5; do
	a=$(grep "^$1 " $cg/io.stat)
	d=$(awk "\$3 == \"vda\"" "$0/proc/diskstats")
	b=$(grep "^$1 " $cg/io.stat)
	[ "$a" = "$b" ] && break
	sleep 1
done
echo "iostat $a"
echo "diskstats $d"
echo "host $(awk "\$3 == \"vda\"" /proc/diskstats)"' "$mnt" "$dev")
echo "$io"
iostat=$(report_value "$io" iostat)
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<" $iostat"; }
read -r -a d <<<"$(report_value "$io" diskstats)"
read -r -a h <<<"$(report_value "$io" host)"
expect_range "io premise: io.stat wbytes" $((16 << 20)) $((64 << 20)) "$(field wbytes)"
expect_range "io premise: io.stat rbytes" $((16 << 20)) $((64 << 20)) "$(field rbytes)"
expect_eq "io: vda reads completed = rios" "$(field rios)" "${d[3]:-}"
expect_eq "io: vda sectors read = rbytes/512" $(($(field rbytes) / 512)) "${d[5]:-}"
expect_eq "io: vda writes completed = wios" "$(field wios)" "${d[7]:-}"
expect_eq "io: vda sectors written = wbytes/512" $(($(field wbytes) / 512)) "${d[9]:-}"
expect_eq "io: vda merges and times" "0 0 0 0" "${d[4]:-} ${d[6]:-} ${d[8]:-} ${d[10]:-}"
expect_range "io: host sectors read exceed the container's" $((d[5] + 1)) 999999999999 "${h[5]:-}"

systemctl stop procfsd-v2
if wait_for 10 sh -c "! mountpoint -q $mnt"; then pass "procfsd unmounted $mnt on stop"; else fail "$mnt still mounted after stop"; fi
rm -f /run/systemd/system/procfsdtest.slice
systemctl daemon-reload
finish
