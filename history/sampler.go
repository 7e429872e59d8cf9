package history

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"procfsd/cgroupview"
)

// idleAfter is how long a container may go unread before its load averages stop being
// sampled: the cost of sampling grows with the containers actually read, not with everything on
// the host (docs/behaviour.md §2.4). A later read starts them again from the current count.
const idleAfter = 10 * time.Minute

// SampleLoads runs until ctx ends: every interval of wall-clock time it counts the runnable and
// uninterruptible threads of each container whose loadavg was read, and drops the state of
// containers whose cgroup has gone (docs/behaviour.md §2.4, §3).
func (s *Store) SampleLoads(ctx context.Context) {
	every(ctx, s.cfg.Interval, func(now time.Time) {
		s.sampleOnce(now)
		s.cgroups.Prune()
		// A pass longer than the interval skips the next tick, and every load average goes a
		// whole interval without a sample (docs/behaviour.md §2.4: at most two intervals old).
		if took := time.Since(now); took > s.cfg.Interval/2 {
			s.log.Warn("load sampling pass took over half the interval", zap.Duration("took", took),
				zap.Duration("interval", s.cfg.Interval))
		}
	})
}

// every calls f with the time of each tick of interval until ctx ends. A call that outlasts
// the interval makes the ticker drop the ticks it missed.
func every(ctx context.Context, interval time.Duration, f func(now time.Time)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f(now)
		}
	}
}

func (s *Store) sampleOnce(now time.Time) {
	// In ID order, not the map's random one: each container then sits at about the same point
	// of every pass, and the time between its samples stays near the interval even when a
	// pass takes seconds on a loaded node (docs/behaviour.md §2.4: every load average at most two
	// intervals old).
	var order []planned
	s.states.each(func(id string, st *State) { order = append(order, planned{id, st}) })
	slices.SortFunc(order, func(a, b planned) int { return strings.Compare(a.id, b.id) })
	// A few workers, each over a contiguous run of that order: counting threads is system
	// calls, and on a node whose CPUs are busy one thread gets one thread's share of them, so
	// one thread's pass over a thousand containers takes seconds.
	workers := min(samplers, len(order))
	var wg sync.WaitGroup
	cpu := make([]time.Duration, workers)
	for w := range workers {
		part := order[w*len(order)/workers : (w+1)*len(order)/workers]
		wg.Add(1)
		go func() {
			defer wg.Done()
			cpu[w] = lockedWorker(func() {
				for _, e := range part {
					s.sampleContainer(e.id, e.st, now)
				}
			})
		}()
	}
	wg.Wait()
	var total time.Duration
	for _, d := range cpu {
		total += d
	}
	s.sampler.addPass(now, total)
	// The containers sampled, with what their counts cost, share the budget for the passes to
	// come (budget.go).
	var list []planned
	for _, e := range order {
		if v, ok := s.states.m.Load(e.id); ok && v == e.st && e.st.HasLoad() { // not dropped
			list = append(list, e)
		}
	}
	s.planSampling(list)
}

// samplers is how many goroutines share a sampling pass.
const samplers = 4

// sampleContainer samples one container's load, or drops its state if its cgroup is gone.
func (s *Store) sampleContainer(id string, st *State, now time.Time) {
	c := st.container.Load()
	if c == nil {
		return
	}
	// A sampled container proves it exists by its count, or by its run time when idle
	// (cgroupview.ActiveSince); only the others (and a failed count) pay a separate check
	// (sampling stays cheap at a thousand containers).
	sampled := st.HasLoad() && now.Sub(time.Unix(0, st.lastRead.Load())) <= idleAfter
	var active cgroupview.Activity
	var err error
	intervals := 1
	if sampled {
		// A costly container is counted only every few passes (planSampling); its count then
		// stands for the intervals since the last one.
		n, due := st.plan.due(int(st.every.Load()))
		if !due {
			return
		}
		intervals = n
		t0 := threadCPU()
		active, _, err = s.cgroups.ActiveSince(c, &st.idle)
		if err == nil {
			st.plan.observe(threadCPU() - t0)
		}
	}
	if (!sampled || err != nil) && !s.cgroups.Exists(c) {
		s.states.drop(id, st)
		if s.cfg.Gone != nil {
			s.cfg.Gone(id)
		}
		s.log.Info("container gone; state dropped", zap.String("container", id))
		return
	}
	if !sampled {
		if st.HasLoad() { // unread for idleAfter
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
	st.sampleLoadN(active, intervals, time.Now())
}
