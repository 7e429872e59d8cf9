#!/bin/bash
# report.sh: what real programs report about memory and CPUs, one "key value" per line. Run inside
# a container whose /proc files and CPU online file come from procfsd; the suites compare the
# values with the container's limits.
echo "meminfo_total_kb $(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)"
echo "free_total_bytes $(free -b | awk '$1 == "Mem:" { print $2 }')"
echo "node_totalmem $(node -e 'console.log(require("os").totalmem())')"
echo "cpuinfo_processors $(grep -c '^processor' /proc/cpuinfo)"
echo "cpuinfo_numbers $(awk -F': ' '/^processor/ { printf "%s%s", sep, $2; sep = "," }' /proc/cpuinfo)"
echo "cpuinfo_apicids $(awk -F': ' '/^apicid/ { printf "%s%s", sep, $2; sep = "," }' /proc/cpuinfo)"
echo "online $(cat /sys/devices/system/cpu/online)"
echo "stat_cpu_lines $(grep -c '^cpu[0-9]' /proc/stat)"
echo "getconf_nprocessors_onln $(getconf _NPROCESSORS_ONLN)"
echo "python_cpu_count $(python3 -c 'import os; print(os.cpu_count())')"
echo "node_cpus $(node -e 'console.log(require("os").cpus().length)')"
echo "uptime_seconds $(cut -d. -f1 /proc/uptime)"
echo "memfree_kb $(awk '$1 == "MemFree:" { print $2 }' /proc/meminfo)"
echo "vmstat_nr_free_pages $(awk '$1 == "nr_free_pages" { print $2 }' /proc/vmstat)"
# Which of procfsd's files are mounted here, in a fixed order (the online file is "online").
binds=
for f in proc/cpuinfo proc/meminfo proc/stat proc/vmstat proc/loadavg proc/uptime proc/swaps \
	proc/diskstats proc/pressure/cpu proc/pressure/memory proc/pressure/io \
	sys/devices/system/cpu/online; do
	if awk -v m="/$f" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; then
		name=${f#proc/}
		binds=$binds${binds:+,}${name#sys/devices/system/cpu/}
	fi
done
echo "procfsd_binds $binds"
