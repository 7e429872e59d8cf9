package fuseconn

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"procfsd/statedir"
)

// The request journal lets a successor answer what a dead process had read from /dev/fuse but not
// yet answered. Those callers stay blocked in the kernel (the descriptor lives on in the supervisor
// or systemd's fd store) until a reply with their request's unique arrives (docs/crash-recovery.md,
// "The request journal and `FUSE_NOTIFY_RESEND`"). It is a file under --state-dir mapped
// MAP_SHARED: the page cache keeps what a killed process wrote, with no write(2) or fsync on the
// hot path.
//
// Layout: one 4 KiB header page (magic, slot count, the connection's INIT request), then one
// 4 KiB slot per request loop. A loop owns its slot, so journalling takes no lock: it copies the
// request in, then publishes the request's unique with an atomic store; after the reply it
// stores 0. A slot whose unique is not 0 is a request in flight.
const (
	journalName     = "journal"
	journalMagic    = 0x70726f6366736431 // "procfsd1"
	journalPage     = 4096
	journalSlots    = 64
	slotHeader      = 16 // unique (8), length (4), pad (4)
	journalMaxReq   = journalPage - slotHeader
	journalInitOff  = 16 // magic (8), slots (4), init length (4)
	journalMaxInit  = journalPage - journalInitOff
	journalFileSize = journalPage * (1 + journalSlots)
)

// Journal is the mapped journal file of one mount.
type Journal struct {
	mem []byte
}

// OpenJournal maps dir/journal, creating it (and dir) if needed. A file of another format is
// reset.
func OpenJournal(dir string) (*Journal, error) {
	mem, err := statedir.MapFile(dir, journalName, journalFileSize, "journal")
	if err != nil {
		return nil, err
	}
	j := &Journal{mem: mem}
	if binary.LittleEndian.Uint64(mem[0:8]) != journalMagic {
		j.Reset()
	}
	return j, nil
}

// Close unmaps the journal.
func (j *Journal) Close() error {
	if j == nil || j.mem == nil {
		return nil
	}
	err := unix.Munmap(j.mem)
	j.mem = nil
	if err != nil {
		return fmt.Errorf("unmap journal: %w", err)
	}
	return nil
}

// Reset forgets the INIT request and every slot: a fresh mount starts a fresh connection.
func (j *Journal) Reset() {
	clear(j.mem)
	binary.LittleEndian.PutUint64(j.mem[0:8], journalMagic)
	binary.LittleEndian.PutUint32(j.mem[8:12], journalSlots)
}

// Init returns a copy of the saved INIT request, nil if none was saved.
func (j *Journal) Init() []byte {
	n := binary.LittleEndian.Uint32(j.mem[12:16])
	if n == 0 || n > journalMaxInit {
		return nil
	}
	return append([]byte(nil), j.mem[journalInitOff:journalInitOff+n]...)
}

// SaveInit stores the connection's INIT request, which a successor must replay.
func (j *Journal) SaveInit(req []byte) {
	if len(req) > journalMaxInit {
		return
	}
	copy(j.mem[journalInitOff:], req)
	binary.LittleEndian.PutUint32(j.mem[12:16], uint32(len(req)))
}

// slot returns request loop i's slot; loops beyond the journal's size get none.
func (j *Journal) slot(i int) journalSlot {
	if j == nil || i >= journalSlots {
		return journalSlot{}
	}
	off := journalPage * (1 + i)
	return journalSlot{mem: j.mem[off : off+journalPage]}
}

// journalSlot is one loop's slot; the zero value journals nothing.
type journalSlot struct{ mem []byte }

func (s journalSlot) unique() *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&s.mem[0]))
}

// begin records req as in flight. A request larger than a slot (only a WRITE can be) keeps its
// header alone, enough to answer it with an error if it must be recovered.
func (s journalSlot) begin(req []byte) {
	if s.mem == nil || len(req) < inHeaderSize {
		return
	}
	n := copy(s.mem[slotHeader:], req)
	binary.LittleEndian.PutUint32(s.mem[8:12], uint32(n))
	s.unique().Store(binary.LittleEndian.Uint64(req[8:16]))
}

// end marks the slot's request answered.
func (s journalSlot) end() {
	if s.mem != nil {
		s.unique().Store(0)
	}
}

// pendingRequest is a journalled request that was in flight when its process stopped.
type pendingRequest struct {
	slot journalSlot
	req  []byte
	// whole is false when only the request's header was kept.
	whole bool
}

// pending lists the requests in flight, in slot order.
func (j *Journal) pending() []pendingRequest {
	var out []pendingRequest
	for i := range journalSlots {
		s := j.slot(i)
		if s.unique().Load() == 0 {
			continue
		}
		n := int(binary.LittleEndian.Uint32(s.mem[8:12]))
		if n < inHeaderSize || n > journalMaxReq {
			s.end()
			continue
		}
		req := append([]byte(nil), s.mem[slotHeader:slotHeader+n]...)
		whole := int(binary.LittleEndian.Uint32(req[0:4])) == n
		out = append(out, pendingRequest{slot: s, req: req, whole: whole})
	}
	return out
}
