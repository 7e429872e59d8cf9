// Package fuseconn is the life of one FUSE connection: the /dev/fuse mount (Mount) or an inherited
// descriptor (Adopt), the request loops that feed each request to a go-fuse ProtocolServer and
// write its reply (Start), busy polling, the request journal, and crash recovery of an adopted
// connection: INIT replayed, the requests a dead predecessor left in flight answered, the rest
// resent by the kernel (Recover; docs/behaviour.md §5.1, docs/crash-recovery.md). The file system
// it serves is any fuse.RawFileSystem.
package fuseconn
