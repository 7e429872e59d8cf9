#!/usr/bin/env bash
# Builds the Debian root file system the e2e suite runs podman and Docker containers from:
# minbase plus the programs whose output the suite checks (procps, nodejs, python3).
# Usage: scripts/rootfs.sh DIR. Idempotent: an existing DIR with a stamp file is kept.
set -euo pipefail

dir=${1:?usage: rootfs.sh DIR}
stamp="$dir/.procfsd-rootfs"
packages=procps,nodejs,python3-minimal

if [[ -f $stamp && $(cat "$stamp") == "$packages" ]]; then
	exit 0
fi

# The mirror the host itself uses: the first http(s) URI of a deb source naming bookworm's main
# archive (deb822 .sources files first, then one-line sources.list entries).
mirror=$(
	{
		grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
		grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
	} | grep -v -e security -e '^$' | head -n1
) || true
mirror=${mirror:-http://deb.debian.org/debian}

# Built next to the target and renamed at the end, so an interrupted run never leaves a
# half-built tree that looks finished.
tmp="$dir.tmp"
rm -rf "$tmp"
mkdir -p "$(dirname "$dir")"
debootstrap --variant=minbase --include="$packages" bookworm "$tmp" "$mirror"
rm -rf "$tmp/var/cache/apt/archives"/*.deb
echo "$packages" >"$tmp/.procfsd-rootfs"
rm -rf "$dir"
mv "$tmp" "$dir"
