package fs

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"procfsd/cgroupview"
	"procfsd/proc"
)

// containerState is what procfsd remembers about one container between reads: its /proc/stat
// history (so counters never go backwards), its load averages, and which failures were
// already logged (SPEC §4: once per container).
type containerState struct {
	container atomic.Pointer[cgroupview.Container]
	lastRead  atomic.Int64 // unix nanoseconds of the last render

	mu    sync.Mutex // guards clock and load
	clock proc.CPUClock
	load  *proc.Loadavg

	logged sync.Map // file path → struct{}
}

// containerStates maps a container ID to its state. Reads of different containers never
// contend: the map is a sync.Map and each state has its own lock.
type containerStates struct {
	m sync.Map // ID → *containerState
}

func (cs *containerStates) init() {}

// get returns c's state, creating it on first sight.
func (cs *containerStates) get(c *cgroupview.Container) *containerState {
	v, ok := cs.m.Load(c.ID)
	if !ok {
		v, _ = cs.m.LoadOrStore(c.ID, &containerState{})
	}
	st := v.(*containerState)
	st.container.Store(c)
	st.lastRead.Store(time.Now().UnixNano())
	return st
}

func (cs *containerStates) each(f func(id string, st *containerState)) {
	cs.m.Range(func(k, v any) bool {
		f(k.(string), v.(*containerState))
		return true
	})
}

func (cs *containerStates) drop(id string) { cs.m.Delete(id) }

func (st *containerState) advanceClock(s proc.CPUSample) []proc.CPUTimes {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.clock.Advance(s)
}

// loadavg returns the container's load averages, starting them at the current count the
// first time the container is seen (SPEC §2.4).
func (st *containerState) loadavg(c *cgroupview.Container, t cgroupview.Tasks, interval time.Duration) *proc.Loadavg {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.load == nil {
		st.load = proc.NewLoadavg(t.Running+t.Blocked, interval)
	}
	l := *st.load
	return &l
}

// sampleLoad feeds one sample to the load averages, if the container has any.
func (st *containerState) sampleLoad(active int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.load != nil {
		st.load.Sample(active)
	}
}

func (st *containerState) hasLoad() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.load != nil
}

// logOnce logs a render failure the first time it happens for this file of this container.
func (st *containerState) logOnce(log *zap.Logger, file string, c *cgroupview.Container, err error) {
	if _, seen := st.logged.LoadOrStore(file, struct{}{}); seen {
		return
	}
	log.Warn("cannot render file for container; serving the host file",
		zap.String("container", c.ID), zap.String("file", file), zap.Error(err))
}
