#!/bin/bash
# run.sh SHARE: the guest runner, started at boot by procfsd-vm-boot from the host's 9p share.
# Runs each suite named in SHARE/suites (guest/suite-NAME.sh) under a time bound, copying its
# output to the console and to SHARE/out/NAME.log, appends "NAME STATUS" to SHARE/out/results,
# and writes SHARE/out/done last. The host treats a missing done as a failed run.
set -u
share=$1
out=$share/out
mkdir -p "$out"
suite_timeout=1320 # 22 minutes: the e2e package bounds itself at 20

# The binaries run from the guest's own disk, not from 9p.
install -m 0755 "$share"/bin/* /usr/local/bin/ 2>/dev/null
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PROCFSD_VM_SHARE=$share PROCFSD_VM_GUEST=$share/guest

while read -r suite; do
	[ -n "$suite" ] || continue
	echo "=== procfsd-vm: suite $suite"
	start=$(date +%s)
	(cd /tmp && timeout --kill-after=30 "$suite_timeout" bash "$share/guest/suite-$suite.sh" </dev/null) 2>&1 |
		tee "$out/$suite.log"
	status=${PIPESTATUS[0]}
	[ "$status" -eq 124 ] && echo "procfsd-vm: suite $suite killed after ${suite_timeout}s" | tee -a "$out/$suite.log"
	echo "$suite $status" >>"$out/results"
	echo "=== procfsd-vm: suite $suite: exit $status in $(($(date +%s) - start))s"
done <"$share/suites"
journalctl -b --no-pager -o short-monotonic >"$out/journal.log" 2>&1
sync
touch "$out/done"
sync
