// Package metrics holds procfsd's counters: the one source that both the Prometheus exposition
// (`serve --metrics-address`, docs/behaviour.md §1.4) and `procfsd status` read. The read path
// only adds to atomics it resolved once per file; everything else is read when asked.
package metrics

import (
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"procfsd/ctlapi"
)

// SharedTree is the tree label of the one tree every container reads today.
const SharedTree = "shared"

// renderBuckets spans a cached render (tens of µs) to one that waited on a slow cgroupfs
// (docs/read-path.md).
var renderBuckets = prometheus.ExponentialBuckets(10e-6, 4, 9)

// Set is one daemon's counters.
type Set struct {
	tree   string
	render *prometheus.HistogramVec
	reg    *prometheus.Registry

	mu    sync.Mutex
	files []*File // in the order they were added

	handovers     atomic.Uint64
	recoveries    atomic.Uint64
	registrations atomic.Uint64
	sources       atomic.Pointer[Sources]
}

// File is one file's counters, resolved once so that a read only adds to atomics.
type File struct {
	name      string
	reads     atomic.Uint64
	fallbacks atomic.Uint64
	render    prometheus.Observer
}

// Read counts one rendering of the file that took d.
func (f *File) Read(d time.Duration) {
	f.reads.Add(1)
	f.render.Observe(d.Seconds())
}

// Fallback counts one answer with the host's file after a failure (docs/behaviour.md §4).
func (f *File) Fallback() { f.fallbacks.Add(1) }

// Sources are the counts other packages keep themselves, read when asked; any may be nil.
type Sources struct {
	Containers   func() int
	ResolveCache func() (hits, misses uint64)
	// SamplerCPU is the load sampler's CPU time since start; SamplerShare its recent share of
	// one CPU (docs/behaviour.md §7.2).
	SamplerCPU   func() time.Duration
	SamplerShare func() float64
}

// New returns an empty set whose files carry the tree label tree.
func New(tree string) *Set {
	s := &Set{tree: tree, reg: prometheus.NewRegistry()}
	s.render = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "procfsd_render_seconds",
		Help:    "Time to compute a file's content for one read at offset 0.",
		Buckets: renderBuckets,
	}, []string{"file", "tree"})
	s.reg.MustRegister(s.render, (*collector)(s),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s
}

// File returns the counters of the file named name, adding them at the first call.
func (s *Set) File(name string) *File {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		if f.name == name {
			return f
		}
	}
	f := &File{name: name, render: s.render.WithLabelValues(name, s.tree)}
	s.files = append(s.files, f)
	return f
}

// SetSources names where the counts kept elsewhere are read.
func (s *Set) SetSources(src Sources) { s.sources.Store(&src) }

// Started records how this process came by its connection: taken over by a live handover, or
// recovered after its predecessor died (a supervisor's restart or systemd's fd store).
func (s *Set) Started(handover, recovered bool) {
	if handover {
		s.handovers.Store(1)
	}
	if recovered {
		s.recoveries.Store(1)
	}
}

// Registered counts one container registered by the OCI hook (docs/behaviour.md §6).
func (s *Set) Registered() { s.registrations.Add(1) }

// Handler serves the Prometheus text exposition of the set.
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
}

// Status is the set as `procfsd status -o json` shows it.
func (s *Set) Status() *ctlapi.Metrics {
	m := &ctlapi.Metrics{Files: []ctlapi.FileMetrics{}, Handovers: s.handovers.Load(),
		CrashRecoveries: s.recoveries.Load(), HookRegistrations: s.registrations.Load()}
	s.mu.Lock()
	for _, f := range s.files {
		m.Files = append(m.Files, ctlapi.FileMetrics{File: f.name, Tree: s.tree,
			Reads: f.reads.Load(), HostFallbacks: f.fallbacks.Load()})
	}
	s.mu.Unlock()
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].File < m.Files[j].File })
	if src := s.sources.Load(); src != nil {
		if src.Containers != nil {
			m.Containers = src.Containers()
		}
		if src.ResolveCache != nil {
			m.ResolveCacheHits, m.ResolveCacheMisses = src.ResolveCache()
		}
		if src.SamplerCPU != nil {
			m.LoadSamplerCPUSeconds = src.SamplerCPU().Seconds()
		}
		if src.SamplerShare != nil {
			m.LoadSamplerCPURatio = src.SamplerShare()
		}
	}
	return m
}

// collector exposes Status's numbers, so that the exposition and `status` read the same atomics.
type collector Set

var (
	descReads         = prometheus.NewDesc("procfsd_reads_total", "Reads of a file at offset 0 (each renders it afresh).", []string{"file", "tree"}, nil)
	descFallbacks     = prometheus.NewDesc("procfsd_host_fallbacks_total", "Reads answered with the host's file after a failure to compute the container's (docs/behaviour.md §4).", []string{"file", "tree"}, nil)
	descContainers    = prometheus.NewDesc("procfsd_containers", "Containers tracked (procfsd ctl list).", nil, nil)
	descCacheHits     = prometheus.NewDesc("procfsd_resolve_cache_hits_total", "Readers resolved to their container from the cache.", nil, nil)
	descCacheMisses   = prometheus.NewDesc("procfsd_resolve_cache_misses_total", "Readers resolved by reading /proc/<pid>.", nil, nil)
	descHandovers     = prometheus.NewDesc("procfsd_handovers_total", "1 if this process took the connection over by a live handover.", nil, nil)
	descRecoveries    = prometheus.NewDesc("procfsd_crash_recoveries_total", "1 if this process took the connection over after its predecessor died.", nil, nil)
	descRegistrations = prometheus.NewDesc("procfsd_hook_registrations_total", "Containers registered by the OCI hook over the control socket.", nil, nil)
	descSamplerCPU    = prometheus.NewDesc("procfsd_load_sampler_cpu_seconds_total", "CPU time the load sampler used.", nil, nil)
	descSamplerRatio  = prometheus.NewDesc("procfsd_load_sampler_cpu_ratio", "The load sampler's CPU time over its latest passes, as a share of one CPU.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReads, descFallbacks, descContainers, descCacheHits, descCacheMisses,
		descHandovers, descRecoveries, descRegistrations, descSamplerCPU, descSamplerRatio} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := (*Set)(c).Status()
	for _, f := range m.Files {
		ch <- prometheus.MustNewConstMetric(descReads, prometheus.CounterValue, float64(f.Reads), f.File, f.Tree)
		ch <- prometheus.MustNewConstMetric(descFallbacks, prometheus.CounterValue, float64(f.HostFallbacks), f.File, f.Tree)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	ch <- prometheus.MustNewConstMetric(descContainers, prometheus.GaugeValue, float64(m.Containers))
	counter(descCacheHits, m.ResolveCacheHits)
	counter(descCacheMisses, m.ResolveCacheMisses)
	counter(descHandovers, m.Handovers)
	counter(descRecoveries, m.CrashRecoveries)
	counter(descRegistrations, m.HookRegistrations)
	ch <- prometheus.MustNewConstMetric(descSamplerCPU, prometheus.CounterValue, m.LoadSamplerCPUSeconds)
	ch <- prometheus.MustNewConstMetric(descSamplerRatio, prometheus.GaugeValue, m.LoadSamplerCPURatio)
}
