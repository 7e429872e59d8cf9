package fuseconn

// Adopt wraps a /dev/fuse descriptor that is already mounted at mountpoint: inherited from a
// predecessor process (handover, supervisor, systemd's fd store). init is the INIT request the
// kernel sent when the connection opened, nil if it has not been seen; Serve replays it, because
// the kernel sends INIT only once per connection (docs/behaviour.md §5.1, docs/restarts.md).
func Adopt(fd int, mountpoint string, init []byte) *Conn {
	var saved []byte
	if len(init) > 0 {
		saved = append([]byte(nil), init...)
	}
	return &Conn{FD: fd, Mountpoint: mountpoint, init: saved, adopted: true}
}
