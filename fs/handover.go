package fs

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"procfsd/cgroupview"
)

// Handover: a process that stops serving (Serve returned after ctx ended) exports what its
// successor needs besides the /dev/fuse descriptor: the INIT request, the open handles with
// their snapshots, and the containers' history. The successor imports it before it serves.
// Under a supervisor or after a crash there is no export; the successor then has the journal
// (INIT and the requests in flight) and the history saved under --state-dir.

// handoverState is the serialised form; it travels in a memfd (cmd/procfsd).
type handoverState struct {
	Init       []byte        `json:"init"`
	NextHandle uint64        `json:"next_handle"`
	Handles    []handleState `json:"handles"`
	History    History       `json:"history"`
	// Snapshots are the open files' snapshots, each once however many files share it.
	Snapshots [][]byte `json:"snapshots,omitempty"`
}

// handleState is one open file: everything the successor needs to continue its snapshot.
type handleState struct {
	Fh        uint64                `json:"fh"`
	Node      uint64                `json:"node"`
	Pid       int                   `json:"pid"`
	Uid       uint32                `json:"uid"`
	Container *cgroupview.Container `json:"container,omitempty"`
	// Data is the snapshot, from a predecessor that wrote each file's own; Snap is 1 + its
	// index in Snapshots, or 0 for none.
	Data []byte `json:"data,omitempty"`
	Snap int    `json:"snap,omitempty"`
	// Size is the length of the last snapshot, when it was not kept (handle).
	Size int32 `json:"size,omitempty"`
}

// ExportHandover serialises the server's state for a successor. Call it after Serve returned.
func (s *Server) ExportHandover(conn *Conn) ([]byte, error) {
	st := handoverState{Init: conn.InitRequest(), NextHandle: s.handles.next.Load(), History: s.ExportHistory()}
	index := map[*snap]int{}
	s.handles.each(func(fh uint64, h *handle) {
		h.mu.Lock()
		hs := handleState{Fh: fh, Node: h.node.id, Pid: h.pid, Uid: h.uid, Container: h.container, Size: h.size}
		if sn := h.snap; sn != nil {
			if index[sn] == 0 {
				st.Snapshots = append(st.Snapshots, sn.data)
				index[sn] = len(st.Snapshots)
			}
			hs.Snap = index[sn]
		}
		st.Handles = append(st.Handles, hs)
		h.mu.Unlock()
	})
	b, err := json.Marshal(&st)
	if err != nil {
		return nil, fmt.Errorf("encode handover state: %w", err)
	}
	return b, nil
}

// ImportHandover installs a predecessor's state and returns its INIT request, for Adopt. Call
// it before Serve.
func (s *Server) ImportHandover(data []byte) ([]byte, error) {
	var st handoverState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode handover state: %w", err)
	}
	s.handles.next.Store(st.NextHandle)
	imported := map[int]*snap{} // Snap → the snapshot made of it
	for _, hs := range st.Handles {
		n := s.tree.byID[hs.Node]
		if n == nil {
			continue // a node this version no longer has; its READs answer ENOENT
		}
		h := &handle{node: n, pid: hs.Pid, uid: hs.Uid, container: hs.Container}
		if s.handles.put(hs.Fh, h) != h {
			continue
		}
		// The predecessor held these snapshots already: they are kept whatever the budgets,
		// and files that shared one share it again.
		h.mu.Lock()
		switch {
		case hs.Snap > 0 && hs.Snap <= len(st.Snapshots):
			if !s.shareSnap(h, imported[hs.Snap]) {
				s.keep(h, st.Snapshots[hs.Snap-1], unlimited)
				imported[hs.Snap] = h.snap
			}
		case hs.Data != nil:
			s.keep(h, hs.Data, unlimited)
		}
		if hs.Size != 0 {
			h.size = hs.Size
		}
		h.mu.Unlock()
	}
	s.ImportHistory(st.History)
	return st.Init, nil
}

// seedHandles starts handle numbers at a random high base unless a predecessor's state set
// them: after a crash the successor cannot know which numbers the kernel still holds, and a
// reused number would give one open file another's snapshot.
func (s *Server) seedHandles() {
	s.handles.next.CompareAndSwap(0, uint64(rand.Uint32()&0xffffff|1)<<40)
}

// openJournal maps the journal under --state-dir; without a state dir, or if it cannot be
// mapped, the server runs without one and says so.
func (s *Server) openJournal(conn *Conn) *Journal {
	if s.cfg.StateDir == "" {
		return nil
	}
	j, err := OpenJournal(s.cfg.StateDir)
	if err != nil {
		s.log.Warn("no request journal: requests in flight at a crash cannot be recovered from it", zap.Error(err))
		return nil
	}
	return j
}

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

// recover prepares an adopted connection: it replays INIT into the protocol server (the kernel
// sends it once per connection), answers the requests the journal shows in flight, and asks the
// kernel to resend whatever else a dead predecessor had read but not answered.
func (s *Server) recover(conn *Conn, ps *fuse.ProtocolServer, j *Journal) {
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
			s.replay(conn, ps, p, initReply, out)
			p.slot.end()
		}
	}
	if err := notifyResend(conn.FD); err != nil {
		s.log.Debug("kernel cannot resend requests in flight (FUSE_NOTIFY_RESEND needs Linux 6.9)", zap.Error(err))
	}
}

// replay answers one journalled request. A request whose body did not fit its slot is answered
// EINTR, which the caller may retry; INIT gets the reply of the replay above.
func (s *Server) replay(conn *Conn, ps *fuse.ProtocolServer, p pendingRequest, initReply, out []byte) {
	op := opcode(p.req)
	unique := binary.LittleEndian.Uint64(p.req[8:16])
	s.log.Info("answering a request left in flight", zap.Uint32("opcode", op), zap.Uint64("unique", unique))
	switch {
	case op == opInit:
		if initReply != nil {
			s.reply(conn, initReply)
		}
	case !p.whole:
		s.reply(conn, errorReply(unique, unix.EINTR))
	default:
		if m, _ := ps.HandleRequest([][]byte{p.req}, [][]byte{out}); m > 0 {
			s.reply(conn, out[:m])
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

// historyName is the history file under --state-dir.
const historyName = "history.json"

// saveHistoryLoop saves the history every loadavg interval until ctx ends, so that a crash
// loses at most one interval of it.
func (s *Server) saveHistoryLoop(ctx context.Context) {
	if s.cfg.StateDir == "" {
		return
	}
	every(ctx, s.cfg.LoadavgInterval, func(time.Time) { s.saveHistory() })
}

// saveHistory writes the history file atomically (a new file renamed over the old).
func (s *Server) saveHistory() {
	if s.cfg.StateDir == "" {
		return
	}
	if err := s.writeHistory(); err != nil {
		s.log.Warn("save history", zap.Error(err))
	}
}

func (s *Server) writeHistory() error {
	if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	err := WriteStateFile(s.cfg.StateDir, historyName, 0o600, func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 64<<10)
		if err := encodeHistory(w, s.ExportHistory()); err != nil {
			return err
		}
		return w.Flush()
	})
	if err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	return nil
}

// encodeHistory writes h as JSON one container at a time, so that saving never holds the whole
// encoding (issue 6: at 1000 containers json.Marshal of the whole history allocated 4 MB every
// interval, and the garbage collector's goal, hence the daemon's RSS, grew with it).
func encodeHistory(w io.Writer, h History) error {
	saved, err := json.Marshal(h.Saved)
	if err != nil {
		return fmt.Errorf("encode history: %w", err)
	}
	if _, err := fmt.Fprintf(w, `{"saved":%s,"containers":[`, saved); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	for i, ch := range h.Containers {
		if i > 0 {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		if err := enc.Encode(ch); err != nil {
			return fmt.Errorf("encode history of %s: %w", ch.Container.ID, err)
		}
	}
	_, err = io.WriteString(w, "]}\n")
	return err
}

// LoadHistory imports the history saved under --state-dir, if there is one. A restart without
// a handover (crash, plain restart) then continues the containers' counters and averages.
// The history file and the clock journal are judged each on its own: an unusable file (an
// error, returned after the import) still leaves the journal's clocks, so /proc/stat does not
// go back (SPEC §2.3) because the other source was damaged; a damaged journal slot is skipped
// by its checksum and leaves the file's clock.
func (s *Server) LoadHistory() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	h, err := s.readHistory()
	journalled := 0
	if j := s.clockJournal(); j != nil {
		j.prune(func(ch ContainerHistory) bool { return !s.cgroups.Exists(&ch.Container) })
		clocks := j.all()
		journalled = len(clocks)
		h.Containers = newerClocks(h.Containers, clocks)
	}
	s.ImportHistory(h)
	if err != nil {
		return fmt.Errorf("%w; load averages start afresh, /proc/stat continues from the clock journal's %d containers",
			err, journalled)
	}
	return nil
}

// readHistory reads and decodes the history file: an empty history when there is none, and
// with an error when it cannot be used, whole (it is replaced whole, so a damaged one is not
// trusted in part).
func (s *Server) readHistory() (History, error) {
	b, err := ReadStateFile(s.cfg.StateDir, historyName, maxHistoryFile)
	if errors.Is(err, os.ErrNotExist) {
		return History{}, nil
	}
	if err != nil {
		return History{}, fmt.Errorf("history file unusable: %w", err)
	}
	var h History
	if len(b) > 0 {
		if err := json.Unmarshal(b, &h); err != nil {
			return History{}, fmt.Errorf("history file unusable: decode %s: %w", filepath.Join(s.cfg.StateDir, historyName), err)
		}
	}
	return h, nil
}

// newerClocks merges the clock journal's entries into the saved history: a container's clock
// is taken from whichever has seen the later uptime. Entries of two inits under one cgroup path
// are two containers (a restart between two saves of the history): the one read last is kept,
// whole, since the other's clock and averages are not the new container's.
func newerClocks(saved, journal []ContainerHistory) []ContainerHistory {
	at := map[string]int{}
	for i, ch := range saved {
		at[ch.Container.ID] = i
	}
	for _, e := range journal {
		i, ok := at[e.Container.ID]
		switch {
		case !ok:
			at[e.Container.ID] = len(saved)
			saved = append(saved, e)
		case !sameContainer(&saved[i].Container, &e.Container):
			if e.LastRead.After(saved[i].LastRead) {
				saved[i] = e
			}
		case e.Clock.Uptime > saved[i].Clock.Uptime:
			saved[i].Clock = e.Clock
		}
	}
	return saved
}

// clockJournal opens the clock journal under --state-dir once; nil without one.
func (s *Server) clockJournal() *clockJournal {
	if j := s.states.clocks.Load(); j != nil || s.cfg.StateDir == "" {
		return j
	}
	j, err := openClockJournal(s.cfg.StateDir)
	if err != nil {
		s.log.Warn("no clock journal: a crash may resume /proc/stat from the last saved history", zap.Error(err))
		return nil
	}
	if !s.states.clocks.CompareAndSwap(nil, j) {
		j.close()
	}
	return s.states.clocks.Load()
}
