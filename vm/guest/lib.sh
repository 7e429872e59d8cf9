#!/bin/bash
# lib.sh: assertions for the guest suites. A suite sources it, checks, and ends with finish.
# Each check prints "ok: ..." or "FAIL: ..."; a suite keeps going after a failure so that one run
# shows every broken value, and finish exits 1 when any failed.
set -u
failures=0

pass() { echo "ok: $*"; }
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# expect_eq WHAT WANT GOT
expect_eq() {
	if [ "$2" = "$3" ]; then pass "$1 = $3"; else fail "$1: want $2, got $3"; fi
}

# expect_range WHAT LOW HIGH GOT: LOW <= GOT <= HIGH, integers.
expect_range() {
	if [ -n "$4" ] && [ "$4" -ge "$2" ] 2>/dev/null && [ "$4" -le "$3" ]; then
		pass "$1 = $4 (in $2..$3)"
	else
		fail "$1: want $2..$3, got '$4'"
	fi
}

# expect_cmd WHAT CMD...: CMD succeeds; its output is shown only when it fails.
expect_cmd() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$what"
	else
		fail "$what (command: $*): $out"
	fi
}

# wait_for SECONDS CMD...: retry CMD every 0.2 s until it succeeds or SECONDS pass.
wait_for() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# report_value REPORT KEY: the value of KEY in a "key value" report (report.sh's, for one).
report_value() { awk -v k="$2" '$1 == k { sub(/^[^ ]+ /, ""); print; exit }' <<<"$1"; }

# expect_report NAME REPORT KEY=WANT...: each KEY in REPORT equals WANT.
expect_report() {
	local name=$1 report=$2 kw
	shift 2
	for kw in "$@"; do
		expect_eq "$name: ${kw%%=*}" "${kw#*=}" "$(report_value "$report" "${kw%%=*}")"
	done
}

# kv FILE KEY: the first number after "KEY:" in a key: value file such as meminfo.
kv() { awk -v k="$2:" '$1 == k { print $2; exit }' "$1"; }

finish() {
	if [ "$failures" -ne 0 ]; then
		echo "$failures check(s) failed"
		exit 1
	fi
	echo "all checks passed"
}

# install_unit: install procfsd.service as an operator would: the repository's
# systemd/procfsd.service (the host puts it on the share), or the stand-in while there is none.
# The binary goes where its ExecStart looks. Sets unit_mnt to the unit's mountpoint.
install_unit() {
	local unit=$PROCFSD_VM_SHARE/procfsd.service exec_start bin
	if [ -f "$unit" ]; then
		echo "unit: systemd/procfsd.service from the repository"
	else
		unit=$PROCFSD_VM_GUEST/procfsd.service
		echo "unit: the VM test's stand-in (the repository has no systemd/procfsd.service)"
	fi
	install -m 0644 "$unit" /etc/systemd/system/procfsd.service
	exec_start=$(sed -n 's/^ExecStart=[-@+!:]*//p' "$unit" | head -n 1)
	bin=${exec_start%% *}
	[ "$bin" = /usr/local/bin/procfsd ] || install -D -m 0755 /usr/local/bin/procfsd "$bin"
	unit_mnt=$(sed -n 's/.*--mountpoint[= ]\([^ ]*\).*/\1/p' <<<"$exec_start")
	unit_mnt=${unit_mnt:-/var/lib/procfsd}
	echo "binary $bin, mountpoint $unit_mnt"
	systemctl daemon-reload
}

# mount_id DIR: the mount ID of the mount at DIR (one FUSE connection keeps one ID), or nothing.
mount_id() { awk -v m="$1" '$5 == m { id = $1 } END { print id }' /proc/self/mountinfo; }
