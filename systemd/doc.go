// Package systemd speaks the service side of systemd's notification protocol, modelled on
// coreos/go-systemd's daemon and activation packages but without their dependencies: sd_notify
// datagrams (READY, STATUS, STOPPING, WATCHDOG), file descriptors sent into the service's fd
// store with SCM_RIGHTS, the watchdog interval, and the descriptors handed back on start
// (LISTEN_FDS). See sd_notify(3), sd_listen_fds(3) and https://systemd.io/FILE_DESCRIPTOR_STORE/.
//
// procfsd keeps its /dev/fuse descriptor in the fd store so that a crash followed by Restart=always
// resumes the same FUSE connection and no container sees ENOTCONN (docs/behaviour.md §5.1,
// sd_notify(3) FDSTORE=1; docs/restarts.md, "Under systemd"). Every function is a no-op when the
// process does not run under systemd, so the daemon needs no flag for it.
package systemd
