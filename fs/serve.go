package fs

import (
	"context"
	"sync"

	"procfsd/fuseconn"
)

// Serve answers the connection's requests until ctx ends or the connection goes away. It runs
// the load sampler and the history saver beside the request loops, and the control socket once
// the mount answers.
//
// When ctx ends, the loops stop at a request boundary: each finishes the request it holds and
// writes its reply, then reads no more; Serve returns once all have stopped. Requests that
// arrive meanwhile wait in the kernel for whoever serves the descriptor next (a successor
// process, docs/behaviour.md §5), and the server's state can then be exported consistently.
func (s *Server) Serve(ctx context.Context, conn *fuseconn.Conn) error {
	s.seedHandles()
	s.history.OpenClockJournal()
	j := s.openJournal()
	defer j.Close()

	bg, cancelBg := context.WithCancel(context.Background())
	var bgDone sync.WaitGroup
	bgDone.Add(2)
	go func() { defer bgDone.Done(); s.history.SampleLoads(bg) }()
	go func() { defer bgDone.Done(); s.history.SaveEvery(bg) }()

	served := false // the loops started: what they serve is saved at the end
	started := func(loops *fuseconn.Loops) {
		served = true
		s.loops.Store(loops)
	}
	err := fuseconn.ServeRaw(ctx, conn, s.fs, j, s.cfg.BusyPoll, s.log, started, func() error {
		if err := s.ctl.Start(bg, &bgDone); err != nil { // control socket and switch saver (package control)
			return err
		}
		if s.cfg.OnReady != nil {
			s.cfg.OnReady()
		}
		return nil
	})
	cancelBg()
	bgDone.Wait()
	if served {
		s.history.Save()
	}
	return err
}

// mayBlock is called by a request about to wait for I/O, so that another loop reads meanwhile
// (fuseconn.Loops.MayBlock).
func (s *Server) mayBlock() { s.loops.Load().MayBlock() }
