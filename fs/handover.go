package fs

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"procfsd/cgroupview"
	"procfsd/fuseconn"
	"procfsd/history"

	"go.uber.org/zap"
)

// Handover: a process that stops serving (Serve returned after ctx ended) exports what its
// successor needs besides the /dev/fuse descriptor: the INIT request, the open handles with
// their snapshots, and the containers' history. The successor imports it before it serves.
// Under a supervisor or after a crash there is no export; the successor then has the journal
// (INIT and the requests in flight) and the history saved under --state-dir.

// handoverState is the serialised form; it travels in a memfd (cmd/procfsd).
type handoverState struct {
	Init       []byte          `json:"init"`
	NextHandle uint64          `json:"next_handle"`
	Handles    []handleState   `json:"handles"`
	History    history.History `json:"history"`
	// Snapshots are the open files' snapshots, each once however many files share it.
	Snapshots [][]byte `json:"snapshots,omitempty"`
}

// handleState is one open file: everything the successor needs to continue its snapshot. The
// JSON names are the handover format, read by a successor of another version: they stay as they
// are whatever the Go names.
type handleState struct {
	Fh        uint64                `json:"fh"`
	Node      uint64                `json:"node"`
	PID       int                   `json:"pid"`
	UID       uint32                `json:"uid"`
	Container *cgroupview.Container `json:"container,omitempty"`
	// Data is the snapshot, from a predecessor that wrote each file's own; Snap is 1 + its
	// index in Snapshots, or 0 for none.
	Data []byte `json:"data,omitempty"`
	Snap int    `json:"snap,omitempty"`
	// Size is the length of the last snapshot, when it was not kept (handle).
	Size int32 `json:"size,omitempty"`
}

// ExportHandover serialises the server's state for a successor. Call it after Serve returned.
func (s *Server) ExportHandover(conn *fuseconn.Conn) ([]byte, error) {
	st := handoverState{Init: conn.InitRequest(), NextHandle: s.handles.next.Load(), History: s.history.Export()}
	index := map[*snap]int{}
	s.handles.each(func(fh uint64, h *handle) {
		h.mu.Lock()
		hs := handleState{Fh: fh, Node: h.node.id, PID: h.pid, UID: h.uid, Container: h.container, Size: h.size}
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
		h := &handle{node: n, pid: hs.PID, uid: hs.UID, container: hs.Container}
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
	s.history.Import(st.History)
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
func (s *Server) openJournal() *fuseconn.Journal {
	if s.cfg.StateDir == "" {
		return nil
	}
	j, err := fuseconn.OpenJournal(s.cfg.StateDir)
	if err != nil {
		s.log.Warn("no request journal: requests in flight at a crash cannot be recovered from it", zap.Error(err))
		return nil
	}
	return j
}
