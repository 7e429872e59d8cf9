package history

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"procfsd/cgroupview"
	"procfsd/proc"
)

// State is what procfsd remembers about one container between reads: its /proc/stat
// history (so counters never go backwards), its load averages, and which failures were
// already logged (docs/behaviour.md §4: once per container).
type State struct {
	container atomic.Pointer[cgroupview.Container]
	lastRead  atomic.Int64         // unix nanoseconds of the last render
	idle      cgroupview.IdleProof // the load sampler's alone (sampler.go)
	plan      samplePlan           // the load sampler's alone (budget.go)
	every     atomic.Int32         // the sampler counts the threads every this many intervals (0: 1)

	mu    sync.Mutex // guards clock, load, the last sample and the journal fields
	clock proc.CPUClock
	load  *proc.Loadavg
	// running and sampledAt are the load sampler's last count of runnable threads and when it
	// was taken, for loadavg's 4th field (sampledLoadavg).
	running   int
	sampledAt time.Time
	// journalFor is the container journalJSON encodes, cached for the clock journal.
	journalFor  *cgroupview.Container
	journalJSON []byte

	logged sync.Map // file path → struct{}

	// restored marks history a predecessor left (Import). It is trusted only for the same
	// container: the first reader's container must have the same init, else the cgroup path was
	// reused by a new container and its history starts afresh.
	restored atomic.Bool
	// states is the table this state belongs to, for its clock journal.
	states *containerStates
	// initPID and initStart name the container's init (cgroupview.Container): the identity of
	// the container that this history belongs to, next to its cgroup path (newInit). Guarded
	// by mu.
	initPID   int
	initStart uint64
}

// containerStates maps a container ID to its state. Reads of different containers never
// contend: the map is a sync.Map and each state has its own lock.
type containerStates struct {
	m sync.Map // ID → *State
	// clocks, when set, receives every container's /proc/stat history as it advances
	// (clocks.go).
	clocks atomic.Pointer[clockJournal]
	// alive reports whether the process pid started at start (clock ticks after boot) still
	// runs; nil counts every process as gone.
	alive func(pid int, start uint64) bool
	// replaced, when set, is called with the ID of a container whose state get replaced by a
	// new container's.
	replaced func(id string)
}

// get returns c's state, creating it on first sight.
func (cs *containerStates) get(c *cgroupview.Container) *State {
	v, ok := cs.m.Load(c.ID)
	if !ok {
		v, _ = cs.m.LoadOrStore(c.ID, &State{states: cs})
	}
	st := v.(*State)
	restored := st.restored.Load()
	if restored && !sameContainer(st.container.Load(), c) || !restored && cs.newInit(st, c) {
		fresh := &State{states: cs}
		if !restored {
			// The same cgroup may still count the old container's CPU time. Not after a
			// restart of the daemon: the longer the gap, the likelier a cgroup created anew
			// has counted past the old totals, and the first Advance bounds the lines anyway.
			st.mu.Lock()
			fresh.clock.SetBase(st.clock.Totals())
			st.mu.Unlock()
		}
		if !cs.m.CompareAndSwap(c.ID, st, fresh) {
			return cs.get(c)
		}
		if cs.replaced != nil {
			cs.replaced(c.ID)
		}
		st = fresh
	}
	if restored {
		st.restored.Store(false)
	}
	st.adoptInit(c)
	st.container.Store(c)
	st.lastRead.Store(time.Now().UnixNano())
	return st
}

// newInit reports whether c is a new container in the cgroup path of st's: a `docker restart` keeps
// the path but starts a new init, whose /proc/stat must count from its own start and whose load
// averages from its own count (docs/behaviour.md §2.3, §2.4). That is an init that started after
// st's, which has exited. Another live init reading under the same path (a PID namespace nested in
// the container, as browsers' sandboxes make) is the same container, and so is a caller in the host
// PID namespace, which has no init of its own (InitPID 0).
func (cs *containerStates) newInit(st *State, c *cgroupview.Container) bool {
	st.mu.Lock()
	pid, start := st.initPID, st.initStart
	st.mu.Unlock()
	if c.InitPID == 0 || pid == 0 || c.InitPID == pid && c.InitStart == start || c.InitStart < start {
		return false
	}
	return cs.alive == nil || !cs.alive(pid, start)
}

// adoptInit records c's init as the container's, the first time one is seen, or when c's
// started earlier than the one recorded (the one recorded was a nested namespace's).
func (st *State) adoptInit(c *cgroupview.Container) {
	if c.InitPID == 0 {
		return
	}
	st.mu.Lock()
	if st.initPID == 0 || c.InitStart < st.initStart {
		st.initPID, st.initStart = c.InitPID, c.InitStart
	}
	st.mu.Unlock()
}

// sameContainer reports whether restored history of old belongs to c: the same init process.
// For callers in the host PID namespace InitStart is the caller's own start, so only the path
// (the key) can be compared.
func sameContainer(old, c *cgroupview.Container) bool {
	if old == nil || old.InitPID != c.InitPID {
		return false
	}
	return c.InitPID == 0 || old.InitStart == c.InitStart
}

func (cs *containerStates) each(f func(id string, st *State)) {
	cs.m.Range(func(k, v any) bool {
		f(k.(string), v.(*State))
		return true
	})
}

// drop forgets st, the state of id, unless a new container has replaced it meanwhile.
func (cs *containerStates) drop(id string, st *State) { cs.m.CompareAndDelete(id, st) }

// AdvanceClock advances the container's /proc/stat history to sample s and returns the
// lines to show (proc.CPUClock.Advance); the clock journal records it.
func (st *State) AdvanceClock(s proc.CPUSample) []proc.CPUTimes {
	st.mu.Lock()
	defer st.mu.Unlock()
	times := st.clock.Advance(s)
	if st.states != nil {
		if j := st.states.clocks.Load(); j != nil {
			st.journalClock(j)
		}
	}
	return times
}

// journalClock writes the clock to the clock journal; st.mu is held.
func (st *State) journalClock(j *clockJournal) {
	c := st.container.Load()
	if c == nil {
		return
	}
	if st.journalFor != c {
		cj, err := json.Marshal(c)
		if err != nil {
			return
		}
		st.journalFor, st.journalJSON = c, cj
	}
	snap := st.clock.Snapshot()
	j.put(c.ID, st.journalJSON, time.Now(), &snap)
}

// Loadavg returns the container's load averages, starting them at the current count the
// first time the container is seen (docs/behaviour.md §2.4).
func (st *State) Loadavg(t cgroupview.Tasks, interval time.Duration) *proc.Loadavg {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.load == nil {
		st.load = proc.NewLoadavg(t.Running+t.Blocked, interval)
	}
	l := *st.load
	return &l
}

// SampledLoadavg returns the container's load averages and the sampler's last count of
// runnable threads, if the sampler counted at most maxAge before now; ok is false otherwise
// (no averages yet, or a sample too old to stand for now).
func (st *State) SampledLoadavg(now time.Time, maxAge time.Duration) (l *proc.Loadavg, running int, ok bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.load == nil || st.sampledAt.IsZero() || now.Sub(st.sampledAt) > maxAge {
		return nil, 0, false
	}
	cp := *st.load
	return &cp, st.running, true
}

// SampleLoad feeds one sample, taken at now, to the load averages, if the container has any.
func (st *State) SampleLoad(a cgroupview.Activity, now time.Time) {
	st.sampleLoadN(a, 1, now)
}

// sampleLoadN is sampleLoad for a sample that stands for n intervals (proc.Loadavg.SampleN).
func (st *State) sampleLoadN(a cgroupview.Activity, n int, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.load != nil {
		st.load.SampleN(a.Active(), n)
		st.running, st.sampledAt = a.Running, now
	}
}

// SampledEvery is how many intervals apart the sampler counts the container's threads.
func (st *State) SampledEvery() int { return max(1, int(st.every.Load())) }

// HasLoad reports whether the container has load averages (its loadavg was read).
func (st *State) HasLoad() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.load != nil
}

// LogOnce logs a render failure the first time it happens for this file of this container.
func (st *State) LogOnce(log *zap.Logger, file string, c *cgroupview.Container, err error) {
	if _, seen := st.logged.LoadOrStore(file, struct{}{}); seen {
		return
	}
	log.Warn("cannot render file for container; serving the host file",
		zap.String("container", c.ID), zap.String("file", file), zap.Error(err))
}

// History is what procfsd remembers about containers, as plain data: handed to a successor process
// and persisted under --state-dir, so that a restart, upgrade or crash neither resets the load
// averages that `uptime` and `top` show nor moves /proc/stat counters back (docs/behaviour.md §2.3,
// §2.4, §5).
type History struct {
	Saved      time.Time          `json:"saved"`
	Containers []ContainerHistory `json:"containers"`
}

// ContainerHistory is one container's history.
type ContainerHistory struct {
	Container cgroupview.Container `json:"container"`
	LastRead  time.Time            `json:"last_read"`
	Clock     proc.CPUClockState   `json:"clock"`
	Load      *proc.LoadavgState   `json:"load,omitempty"`
}

// Export returns every container's history. Readers may go on meanwhile: each
// container is copied under its own lock.
func (s *Store) Export() History {
	h := History{Saved: time.Now()}
	s.states.each(func(id string, st *State) {
		c := st.container.Load()
		if c == nil {
			return
		}
		ch := ContainerHistory{Container: *c, LastRead: time.Unix(0, st.lastRead.Load())}
		st.mu.Lock()
		ch.Clock = st.clock.Snapshot()
		if st.load != nil {
			l := st.load.Snapshot()
			ch.Load = &l
		}
		st.mu.Unlock()
		h.Containers = append(h.Containers, ch)
	})
	return h
}

// Import installs h's containers, replacing what the server has for them. Call it
// before serving.
func (s *Store) Import(h History) {
	for _, ch := range h.Containers {
		c := ch.Container
		st := &State{states: &s.states}
		st.restored.Store(true)
		st.adoptInit(&c)
		st.container.Store(&c)
		st.lastRead.Store(ch.LastRead.UnixNano())
		st.clock.Restore(ch.Clock)
		// A container whose threads are all the host's is served the host's load and has no
		// averages of its own (renderLoadavg); ones an older version saved would have the
		// sampler count every thread on the host.
		if ch.Load != nil && !s.cgroups.AtHostRoot(&c) {
			st.load = proc.RestoreLoadavg(*ch.Load, s.cfg.Interval)
		}
		s.states.m.Store(c.ID, st)
	}
}

// Config is what the history needs of `procfsd serve`'s configuration.
type Config struct {
	ProcRoot string // host /proc, where a container's init is looked up
	// StateDir is where history.json and the clock journal are kept; "" keeps nothing.
	StateDir string
	// Interval is the load sampler's interval, Budget the share of one CPU it may use.
	Interval time.Duration
	Budget   float64
	Cgroups  *cgroupview.Reader
	Logger   *zap.Logger
	// Gone, if set, is called with the ID of a container whose cgroup has gone, once its state
	// is dropped.
	Gone func(id string)
	// Replaced, if set, is called with the ID of a container whose state a new container's
	// replaced (a restart in the same cgroup).
	Replaced func(id string)
}

// Store is every container's history: its State, the load sampler, history.json and the
// clock journal. It is safe for concurrent use.
type Store struct {
	cfg     Config
	log     *zap.Logger
	cgroups *cgroupview.Reader
	states  containerStates
	// sampler is the load sampler's cost and plan, for status (budget.go).
	sampler samplerStats
}

// New makes an empty store.
func New(cfg Config) *Store {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	s := &Store{cfg: cfg, log: cfg.Logger, cgroups: cfg.Cgroups}
	s.states.alive = func(pid int, start uint64) bool {
		st, err := cgroupview.ProcessStart(cfg.ProcRoot, pid)
		return err == nil && st == start
	}
	s.states.replaced = cfg.Replaced
	return s
}

// Get returns c's state, creating it on first sight.
func (s *Store) Get(c *cgroupview.Container) *State { return s.states.get(c) }
