package history

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// DefaultLoadavgBudget is the share of one CPU the load sampler may use (--loadavg-budget):
// a count reads /proc/<tid>/stat for every thread of a container, and a container of thousands
// of sleeping threads alone can take a good share of a CPU at a 1 s interval.
const DefaultLoadavgBudget = 0.05

// maxEvery bounds how rarely a container is counted: at most every maxEvery intervals, even
// if the budget is then exceeded (a minute at a 1 s interval, five at the default 5 s).
const maxEvery = 60

// samplePlan is what the load sampler keeps to plan one container's counts; the sampler's
// alone, like State.idle. How often it counts (State.every) lives in State, which readers of
// loadavg read too; the container is degraded while that is over 1.
type samplePlan struct {
	cost   time.Duration // CPU time of a sample, the mean of the last ones (observe)
	spent  time.Duration // CPU time of the last calls samples
	calls  int
	waited int // passes since the container was last sampled
}

// costWindow is how many samples the cost is the mean of, between half and all of it: a few
// full counts of an idle container among its cheap samples (cgroupview.ActiveSince
// counts in full at least every sixth).
const costWindow = 24

// due reports whether this pass samples the container, and how many intervals the sample
// stands for.
func (p *samplePlan) due(every int) (n int, ok bool) {
	p.waited++
	if p.waited < every {
		return 0, false
	}
	n, p.waited = p.waited, 0
	return n, true
}

// observe records the CPU time of a sample: a full count, or the run time read that proves
// an idle container still idle. The first sample sets the cost alone, so a container that is
// costly from the start is planned for at the next pass.
func (p *samplePlan) observe(d time.Duration) {
	if p.calls >= costWindow {
		p.spent, p.calls = p.spent/2, p.calls/2
	}
	p.spent += d
	p.calls++
	p.cost = p.spent / time.Duration(p.calls)
}

// threadCPU is the CPU time of the calling thread; the caller is locked to its thread.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// samplerStats is what `procfsd status` shows of the load sampler: its CPU time over the
// last passes and the containers it counts less often than every interval.
type samplerStats struct {
	mu       sync.Mutex
	passes   [60]passCost // a ring of the latest passes
	next     int
	degraded []Degraded
	total    time.Duration // every pass's, since start
}

type passCost struct {
	at  time.Time
	cpu time.Duration
}

func (ss *samplerStats) addPass(at time.Time, cpu time.Duration) {
	ss.mu.Lock()
	ss.passes[ss.next%len(ss.passes)] = passCost{at, cpu}
	ss.next++
	ss.total += cpu
	ss.mu.Unlock()
}

// share is the sampler's CPU time over the passes kept, as a fraction of one CPU's time over
// the intervals they cover.
func (ss *samplerStats) share(interval time.Duration) float64 {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.next == 0 {
		return 0
	}
	var cpu time.Duration
	for _, p := range ss.passes {
		cpu += p.cpu // a slot not yet written adds 0
	}
	// The ring is written in order: the newest pass is the one before next, the oldest the one
	// at next once the ring has wrapped, else the first.
	n := len(ss.passes)
	last := ss.passes[(ss.next-1)%n].at
	first := ss.passes[0].at
	if ss.next >= n {
		first = ss.passes[ss.next%n].at
	}
	return float64(cpu) / float64(last.Sub(first)+interval)
}

// planned is one container of a sampling pass, by ID: the pass's order and planSampling's list.
type planned struct {
	id string
	st *State
}

// planSampling keeps the sampler within its budget (docs/behaviour.md §2.4: cost grows with the
// containers read, and no container may make it grow without bound): the budget is shared out over
// the sampled containers from the cheapest up, each taking at most an even share of what is left,
// and a container whose count costs more than its share is counted only every k-th interval, k =
// cost / share rounded up, its sample then standing for k intervals (proc.Loadavg.SampleN). Cheap
// containers thus keep every sample, and only the costliest lose resolution. Becoming degraded and
// recovering are logged once each.
func (s *Store) planSampling(list []planned) {
	budget := time.Duration(s.cfg.Budget * float64(s.cfg.Interval))
	slices.SortFunc(list, func(a, b planned) int {
		return cmp.Or(cmp.Compare(a.st.plan.cost, b.st.plan.cost), strings.Compare(a.id, b.id))
	})
	remaining := budget
	var less []Degraded
	for i, e := range list {
		p := &e.st.plan
		degraded := e.st.every.Load() > 1 // by the last plan
		share := remaining / time.Duration(len(list)-i)
		every := 1
		// A degraded container recovers only with a quarter to spare, so that one whose cost
		// hovers at its share is not logged in and out every few intervals.
		need := p.cost
		if degraded {
			need += p.cost / 4
		}
		if need > share {
			every = maxEvery
			if share > 0 {
				every = min(maxEvery, max(2, int(math.Ceil(float64(p.cost)/float64(share)))))
			}
		}
		remaining -= p.cost / time.Duration(every)
		e.st.every.Store(int32(every))
		switch {
		case every > 1 && !degraded:
			s.log.Warn("container's load sampled less often to keep the sampler within its CPU budget",
				zap.String("container", e.id), zap.Int("every_intervals", every),
				zap.Duration("count_cost", p.cost), zap.Duration("budget_per_interval", budget))
		case every == 1 && degraded:
			s.log.Info("container's load sampled every interval again", zap.String("container", e.id),
				zap.Duration("count_cost", p.cost), zap.Duration("budget_per_interval", budget))
		}
		if every > 1 {
			less = append(less, Degraded{Container: e.id, Every: every, CountCost: p.cost})
		}
	}
	slices.SortFunc(less, func(a, b Degraded) int { return strings.Compare(a.Container, b.Container) })
	s.sampler.mu.Lock()
	s.sampler.degraded = less
	s.sampler.mu.Unlock()
}

// SamplerStats is the load sampler's part of `procfsd status`: its CPU time over the passes
// kept, as a share of one CPU, and the containers it counts less often than every interval.
func (s *Store) SamplerStats() (share float64, less []Degraded) {
	share = s.sampler.share(s.cfg.Interval)
	s.sampler.mu.Lock()
	less = append([]Degraded{}, s.sampler.degraded...)
	s.sampler.mu.Unlock()
	return share, less
}

// SamplerCPU is the CPU time the load sampler has used since the Store was made.
func (s *Store) SamplerCPU() time.Duration {
	s.sampler.mu.Lock()
	defer s.sampler.mu.Unlock()
	return s.sampler.total
}

// Degraded is a container whose threads the sampler counts only every Every intervals, to
// stay within its budget; a count costs CountCost of CPU time.
type Degraded struct {
	Container string
	Every     int
	CountCost time.Duration
}

// lockedWorker runs f on a goroutine locked to its thread, so that threadCPU measures f's own
// work, and returns the thread CPU time f took.
func lockedWorker(f func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	f()
	return threadCPU() - t0
}
