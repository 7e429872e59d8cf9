package fs

import (
	"context"
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"

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
	opts := fuseconn.ProtocolOptions()
	opts.Logger = zap.NewStdLog(s.log.Named("fuse"))
	ps := fuse.NewProtocolServer(s.fs, opts)
	s.seedHandles()
	s.history.OpenClockJournal()
	j := s.openJournal()
	defer j.Close()
	// An adopted connection: INIT replayed, the requests a dead predecessor left in flight
	// answered. A fresh mount: a fresh journal.
	conn.Recover(ps, j, s.log)

	bg, cancelBg := context.WithCancel(context.Background())
	var bgDone sync.WaitGroup
	bgDone.Add(2)
	go func() { defer bgDone.Done(); s.history.SampleLoads(bg) }()
	go func() { defer bgDone.Done(); s.history.SaveEvery(bg) }()

	loops, err := conn.Start(ps, j, s.cfg.BusyPoll, s.log)
	if err != nil {
		cancelBg()
		bgDone.Wait()
		return err
	}
	s.loops.Store(loops)
	stop := func() {
		loops.Stop()
		cancelBg()
		bgDone.Wait()
		s.history.Save()
	}
	if err := conn.DisablePoll(); err != nil {
		stop()
		return err
	}
	if err := s.ctl.Start(bg, &bgDone); err != nil { // control socket and switch saver (package control)
		stop()
		return err
	}
	if s.cfg.OnReady != nil {
		s.cfg.OnReady()
	}
	err = loops.Wait(ctx)
	stop()
	return err
}

// mayBlock is called by a request about to wait for I/O, so that another loop reads meanwhile
// (fuseconn.Loops.MayBlock).
func (s *Server) mayBlock() { s.loops.Load().MayBlock() }
