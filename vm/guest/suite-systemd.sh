#!/bin/bash
# suite-systemd: procfsd installed as the shipped unit and driven the way an operator does:
# systemctl start, reload, restart, stop. The mount must serve after start, reload and restart,
# and be gone after stop. When the unit keeps the FUSE descriptor in systemd's fd store (live
# handover, docs/behaviour.md §5), reload and restart must also keep the same mount and lose no read.
. "$PROCFSD_VM_GUEST/lib.sh"

install_unit
mnt=$unit_mnt
cat /etc/systemd/system/procfsd.service

mounted() { findmnt -n -M "$mnt" >/dev/null; }
serving() { mounted && grep -q '^MemTotal:' "$mnt/proc/meminfo"; }
main_pid() { systemctl show -P MainPID procfsd; }
handover=$(($(systemctl show -P FileDescriptorStoreMax procfsd) > 0))

# readers SECONDS: read meminfo in a loop in the background for SECONDS; check_kept collects the
# numbers of served and failed reads from the file $reads.
reads=$(mktemp)
readers() {
	(
		end=$(($(date +%s) + $1)) ok=0 bad=0
		while [ "$(date +%s)" -lt "$end" ]; do
			if grep -q '^MemTotal:' "$mnt/proc/meminfo" 2>/dev/null; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
		done
		echo "$ok $bad" >"$reads"
	) &
	reader=$!
}

# check_kept WHAT OLD-MOUNT-ID: after WHAT, the mount came back and, with handover, stayed.
check_kept() {
	local ok bad
	wait "$reader"
	read -r ok bad <"$reads"
	echo "reads during $1: $ok served, $bad failed"
	expect_eq "mounts at $mnt after $1" 1 "$(findmnt -n -M "$mnt" | wc -l)"
	if [ "$handover" = 1 ]; then
		expect_eq "mount ID after $1 (same FUSE connection)" "$2" "$(mount_id "$mnt")"
		expect_eq "reads failed during $1" 0 "$bad"
		expect_range "reads served during $1" 1 1000000000 "$ok"
	fi
}

expect_cmd "systemctl start procfsd" systemctl start procfsd
expect_cmd "serving $mnt after start" wait_for 30 serving
expect_eq "state after start" active "$(systemctl is-active procfsd)"
expect_eq "mount type" fuse.procfsd "$(findmnt -n -o FSTYPE -M "$mnt")"
pid=$(main_pid) id=$(mount_id "$mnt")
echo "main PID $pid, mount ID $id, fd store handover: $handover"

readers 8
sleep 1
if [ -n "$(systemctl show -P ExecReload procfsd)" ]; then
	expect_cmd "systemctl reload procfsd" systemctl reload procfsd
else
	# A unit without ExecReload must refuse reload and leave the daemon alone.
	if systemctl reload procfsd 2>/dev/null; then
		fail "reload accepted by a unit with no ExecReload"
	else
		pass "reload refused: the unit has no ExecReload"
		expect_eq "main PID after reload" "$pid" "$(main_pid)"
	fi
fi
expect_cmd "serving $mnt after reload" wait_for 30 serving
expect_eq "state after reload" active "$(systemctl is-active procfsd)"
check_kept reload "$id"
pid=$(main_pid)

readers 8
sleep 1
expect_cmd "systemctl restart procfsd" systemctl restart procfsd
expect_cmd "serving $mnt after restart" wait_for 30 serving
expect_eq "state after restart" active "$(systemctl is-active procfsd)"
new=$(main_pid)
if [ "$new" != "$pid" ] && [ "$new" != 0 ]; then
	pass "restart started a new process ($pid -> $new)"
else
	fail "main PID after restart: $pid -> $new"
fi
check_kept restart "$id"

expect_cmd "systemctl stop procfsd" systemctl stop procfsd
expect_eq "state after stop" inactive "$(systemctl is-active procfsd)"
expect_cmd "$mnt unmounted after stop" wait_for 10 sh -c "! findmnt -n -M $mnt >/dev/null"
expect_eq "procfsd processes left" "" "$(pgrep -x procfsd)"

journalctl -u procfsd --no-pager -o cat | tail -n 30
finish
