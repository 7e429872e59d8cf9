package fs

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// idleAfter is how long a container may go unread before its load averages stop being
// sampled: the cost of sampling grows with the containers actually read, not with everything on
// the host (SPEC §2.4). A later read starts them again from the current count.
const idleAfter = 10 * time.Minute

// sampleLoads runs until ctx ends: every interval of wall-clock time it counts the runnable and
// uninterruptible threads of each container whose loadavg was read, and drops the state of
// containers whose cgroup has gone (SPEC §2.4, §3).
func (s *Server) sampleLoads(ctx context.Context) {
	t := time.NewTicker(s.cfg.LoadavgInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sampleOnce(time.Now())
			s.cgroups.Prune()
		}
	}
}

func (s *Server) sampleOnce(now time.Time) {
	s.states.each(func(id string, st *containerState) {
		c := st.container.Load()
		if c == nil {
			return
		}
		// A sampled container proves it exists by its count; only the others (and a failed
		// count) pay a separate check (issue 6: sampling stays under 2% of a core at 1000
		// containers).
		sampled := st.hasLoad() && now.Sub(time.Unix(0, st.lastRead.Load())) <= idleAfter
		var active int
		var err error
		if sampled {
			active, err = s.cgroups.Active(c)
		}
		if (!sampled || err != nil) && !s.cgroups.Exists(c) {
			s.states.drop(id)
			s.switches.drop(id)
			s.log.Info("container gone; state dropped", zap.String("container", id))
			return
		}
		if !sampled {
			if st.hasLoad() { // unread for idleAfter
				st.mu.Lock()
				st.load = nil
				st.mu.Unlock()
			}
			return
		}
		if err != nil {
			s.log.Debug("sample load", zap.String("container", id), zap.Error(err))
			return
		}
		st.sampleLoad(active)
	})
}
