// Package reattach repairs containers whose procfsd mounts died with an earlier daemon: the last
// resort of the restart design, for when nothing held the /dev/fuse descriptor across the
// restart (no systemd fd store, no handover) and every bind mount of the old connection answers
// ENOTCONN ("Transport endpoint is not connected", LXCFS's worst failure: lxc/lxcfs#193, #583).
//
// Run finds, in every mount namespace other than its own, the mounts of type fuse.procfsd (from
// /proc/<pid>/mountinfo), probes each through /proc/<pid>/root with a GETATTR that bypasses the
// attribute cache, and replaces every dead one with a clone of the same file of the live mount:
// open_tree(OPEN_TREE_CLONE) on the host, then setns into the container's mount namespace,
// umount2(MNT_DETACH) and move_mount (as deleriux/lxcfs-reattach does; docs/crash-recovery.md,
// "Re-attach, the last resort"). Where the kernel has MOVE_MOUNT_BENEATH (6.5) the clone is mounted
// beneath the dead mount before that is detached, so the container never sees the host's file in
// between (move.go). No process in the container is touched, no binary runs inside it, and no host
// path becomes visible there.
//
// setns(CLONE_NEWNS) needs a thread with its own fs_struct, which Go threads share; the work runs
// on a locked OS thread that first unshares CLONE_FS and is never unlocked, so the runtime
// discards it instead of returning a thread in a container's namespace to the pool.
package reattach
