#!/bin/bash
# suite-podman: podman containers (runc and crun, systemd cgroup manager, pure v2) see their
# limits through procfsd running as the shipped unit: first with the LXCFS-style bind-mount
# recipe (-v), then through procfsd's OCI hook from the repository's hooks.d entry.
. "$PROCFSD_VM_GUEST/lib.sh"

install_unit
mnt=$unit_mnt
report=$PROCFSD_VM_GUEST/report.sh
host_memtotal_kb=$(kv /proc/meminfo MemTotal)

systemctl start procfsd
if ! wait_for 30 test -r "$mnt/proc/meminfo"; then
	fail "procfsd did not mount $mnt within 30s"
	journalctl -u procfsd --no-pager
	finish
fi


# The LXCFS recipe: every file runc allows over /proc, and the CPU online file.
binds=()
for f in cpuinfo meminfo stat diskstats uptime loadavg swaps; do
	binds+=(-v "$mnt/proc/$f:/proc/$f:ro")
done
binds+=(-v "$mnt/sys/devices/system/cpu/online:/sys/devices/system/cpu/online:ro")

# ctr NAME RUNTIME PODMAN-OPTION...: run report.sh in a fresh container from /opt/rootfs.
ctr() {
	local name=$1 runtime=$2
	shift 2
	timeout 300 podman --runtime "$runtime" run --rm --name "$name" --network none \
		-v "$report:/report.sh:ro" "$@" --rootfs /opt/rootfs bash /report.sh
}

limits=(--memory 256m --cpus 1.5 --cpuset-cpus 1-3)
for runtime in runc crun; do
	echo "--- $runtime, bind-mount recipe: memory 256m, cpus 1.5, cpuset 1-3"
	out=$(ctr "recipe-$runtime" "$runtime" "${limits[@]}" "${binds[@]}" 2>&1)
	echo "$out"
	expect_report "$runtime recipe" "$out" meminfo_total_kb=262144 free_total_bytes=268435456 \
		node_totalmem=268435456 cpuinfo_processors=2 cpuinfo_numbers=0,1 online=0-1 \
		stat_cpu_lines=2 getconf_nprocessors_onln=2 python_cpu_count=2 node_cpus=2
	expect_range "$runtime recipe: container uptime" 0 60 "$(report_value "$out" uptime_seconds)"
	expect_report "$runtime recipe" "$out" \
		procfsd_binds=cpuinfo,meminfo,stat,loadavg,uptime,swaps,diskstats,online
done

echo "--- the bind-mount recipe with no limits sees the host's memory and CPUs"
out=$(ctr recipe-nolimit runc "${binds[@]}" 2>&1)
echo "$out"
expect_report "no limits" "$out" meminfo_total_kb="$host_memtotal_kb" cpuinfo_processors=4 online=0-3

if /usr/local/bin/procfsd hook -h >/dev/null 2>&1; then
	hook_dir=/usr/share/containers/oci/hooks.d # where podman looks (README: make install)
	mkdir -p "$hook_dir"
	if ls "$PROCFSD_VM_SHARE"/hooks.d/*.json >/dev/null 2>&1; then
		cp "$PROCFSD_VM_SHARE"/hooks.d/*.json "$hook_dir/"
		echo "hooks.d: the repository's entries"
	else
		fail "procfsd has a hook command but the repository ships no hooks.d entry"
	fi
	cat "$hook_dir"/*.json
	for runtime in runc crun; do
		echo "--- $runtime, procfsd hook: memory 256m, cpus 1.5, cpuset 1-3"
		out=$(ctr "hook-$runtime" "$runtime" "${limits[@]}" 2>&1)
		echo "$out"
		expect_report "$runtime hook" "$out" meminfo_total_kb=262144 free_total_bytes=268435456 \
			cpuinfo_processors=2 online=0-1 stat_cpu_lines=2 getconf_nprocessors_onln=2 \
			python_cpu_count=2 node_cpus=2 \
			procfsd_binds=cpuinfo,meminfo,stat,vmstat,loadavg,uptime,swaps,diskstats,pressure/cpu,pressure/memory,pressure/io,online
		# vmstat, which only the hook can mount under runc: nr_free_pages is MemFree in pages.
		free_pages=$(($(report_value "$out" memfree_kb) / 4))
		expect_range "$runtime hook: vmstat nr_free_pages ~ MemFree/4 KiB" $((free_pages - 2048)) \
			$((free_pages + 2048)) "$(report_value "$out" vmstat_nr_free_pages)"
		echo "--- $runtime, procfsd hook, opted out with the annotation"
		out=$(ctr "optout-$runtime" "$runtime" "${limits[@]}" \
			--annotation procfsd.io/container-stats-isolated=0 2>&1)
		echo "$out"
		expect_report "$runtime opt-out" "$out" meminfo_total_kb="$host_memtotal_kb" \
			cpuinfo_processors=4 online=0-3
	done
else
	echo "SKIP: procfsd has no hook command yet: the hook cases did not run"
fi

journalctl -u procfsd --no-pager -o cat | tail -n 20
systemctl stop procfsd
finish
