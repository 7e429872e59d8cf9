package fuseconn

import (
	"encoding/binary"
	"fmt"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// ResetJournal clears the journal under dir: a supervisor that mounts afresh calls it before
// its first server starts, so that nothing of an older connection is replayed.
func ResetJournal(dir string) error {
	j, err := OpenJournal(dir)
	if err != nil {
		return err
	}
	j.Reset()
	return j.Close()
}

// Recover prepares conn for ps, before its loops start; j may be nil. A fresh mount starts a
// fresh journal: nothing of an older connection applies. An adopted connection (Adopt) is
// recovered: its INIT is replayed into ps (the kernel sends it once per connection), the
// requests the journal shows in flight are answered, and the kernel is asked to resend whatever
// else a dead predecessor had read but not answered.
func (conn *Conn) Recover(ps *fuse.ProtocolServer, j *Journal, log *zap.Logger) {
	if !conn.adopted {
		if j != nil {
			j.Reset()
		}
		return
	}
	init := conn.InitRequest()
	if init == nil && j != nil {
		if init = j.Init(); init != nil {
			conn.saveInit(init)
		}
	}
	out := make([]byte, maxRead+4096)
	var initReply []byte
	if init != nil {
		m, _ := ps.HandleRequest([][]byte{init}, [][]byte{out})
		initReply = append([]byte(nil), out[:m]...)
	}
	if j != nil {
		for _, p := range j.pending() {
			replay(conn, ps, p, initReply, out, log)
			p.slot.end()
		}
	}
	if err := notifyResend(conn.FD); err != nil {
		log.Debug("kernel cannot resend requests in flight (FUSE_NOTIFY_RESEND needs Linux 6.9)", zap.Error(err))
	}
}

// replay answers one journalled request. A request whose body did not fit its slot is answered
// EINTR, which the caller may retry; INIT gets the reply of the replay above.
func replay(conn *Conn, ps *fuse.ProtocolServer, p pendingRequest, initReply, out []byte, log *zap.Logger) {
	op := opcode(p.req)
	unique := binary.LittleEndian.Uint64(p.req[8:16])
	log.Info("answering a request left in flight", zap.Uint32("opcode", op), zap.Uint64("unique", unique))
	switch {
	case op == opInit:
		if initReply != nil {
			writeReply(conn, log, initReply)
		}
	case !p.whole:
		writeReply(conn, log, errorReply(unique, unix.EINTR))
	default:
		if m, _ := ps.HandleRequest([][]byte{p.req}, [][]byte{out}); m > 0 {
			writeReply(conn, log, out[:m])
		}
	}
}

// outHeaderSize is sizeof(struct fuse_out_header); notifyResendCode is FUSE_NOTIFY_RESEND
// (include/uapi/linux/fuse.h, Linux 6.9, fs/fuse/dev.c fuse_resend).
const (
	outHeaderSize    = 16
	notifyResendCode = 7
)

func errorReply(unique uint64, errno unix.Errno) []byte {
	b := make([]byte, outHeaderSize)
	binary.LittleEndian.PutUint32(b[0:4], outHeaderSize)
	binary.LittleEndian.PutUint32(b[4:8], uint32(-int32(errno)))
	binary.LittleEndian.PutUint64(b[8:16], unique)
	return b
}

// notifyResend moves every request the connection's readers took but did not answer back to
// the kernel's pending queue (marked with the FUSE_UNIQUE_RESEND bit); the loops then read them
// again. It covers the instant between a read and its journal entry.
func notifyResend(fd int) error {
	b := make([]byte, outHeaderSize)
	binary.LittleEndian.PutUint32(b[0:4], outHeaderSize)
	binary.LittleEndian.PutUint32(b[4:8], notifyResendCode)
	if _, err := unix.Write(fd, b); err != nil {
		return fmt.Errorf("write FUSE_NOTIFY_RESEND: %w", err)
	}
	return nil
}
