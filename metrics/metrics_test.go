package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCountsAndExposition(t *testing.T) {
	s := New(SharedTree)
	mem := s.File("meminfo")
	if s.File("meminfo") != mem {
		t.Fatal("File resolved the same name twice to different counters")
	}
	for range 3 {
		mem.Read(time.Millisecond)
	}
	mem.Fallback()
	s.File("stat").Read(time.Microsecond)
	s.Started(true, false)
	s.Registered()
	s.Registered()
	s.SetSources(Sources{
		Containers:   func() int { return 4 },
		ResolveCache: func() (uint64, uint64) { return 10, 2 },
		SamplerCPU:   func() time.Duration { return 1500 * time.Millisecond },
		SamplerShare: func() float64 { return 0.01 },
	})

	want := `
# HELP procfsd_reads_total Reads of a file at offset 0 (each renders it afresh).
# TYPE procfsd_reads_total counter
procfsd_reads_total{file="meminfo",tree="shared"} 3
procfsd_reads_total{file="stat",tree="shared"} 1
# HELP procfsd_host_fallbacks_total Reads answered with the host's file after a failure to compute the container's (docs/behaviour.md §4).
# TYPE procfsd_host_fallbacks_total counter
procfsd_host_fallbacks_total{file="meminfo",tree="shared"} 1
procfsd_host_fallbacks_total{file="stat",tree="shared"} 0
# HELP procfsd_containers Containers tracked (procfsd ctl list).
# TYPE procfsd_containers gauge
procfsd_containers 4
# HELP procfsd_resolve_cache_hits_total Readers resolved to their container from the cache.
# TYPE procfsd_resolve_cache_hits_total counter
procfsd_resolve_cache_hits_total 10
# HELP procfsd_resolve_cache_misses_total Readers resolved by reading /proc/<pid>.
# TYPE procfsd_resolve_cache_misses_total counter
procfsd_resolve_cache_misses_total 2
# HELP procfsd_handovers_total 1 if this process took the connection over by a live handover.
# TYPE procfsd_handovers_total counter
procfsd_handovers_total 1
# HELP procfsd_crash_recoveries_total 1 if this process took the connection over after its predecessor died.
# TYPE procfsd_crash_recoveries_total counter
procfsd_crash_recoveries_total 0
# HELP procfsd_hook_registrations_total Containers registered by the OCI hook over the control socket.
# TYPE procfsd_hook_registrations_total counter
procfsd_hook_registrations_total 2
# HELP procfsd_load_sampler_cpu_seconds_total CPU time the load sampler used.
# TYPE procfsd_load_sampler_cpu_seconds_total counter
procfsd_load_sampler_cpu_seconds_total 1.5
# HELP procfsd_load_sampler_cpu_ratio The load sampler's CPU time over its latest passes, as a share of one CPU.
# TYPE procfsd_load_sampler_cpu_ratio gauge
procfsd_load_sampler_cpu_ratio 0.01
`
	if err := testutil.CollectAndCompare((*collector)(s), strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	st := s.Status()
	if len(st.Files) != 2 || st.Files[0].File != "meminfo" || st.Files[0].Reads != 3 || st.Files[0].HostFallbacks != 1 ||
		st.Files[0].Tree != SharedTree || st.Containers != 4 || st.ResolveCacheHits != 10 || st.HookRegistrations != 2 || st.Handovers != 1 {
		t.Errorf("Status = %+v", st)
	}

	// The HTTP exposition carries the histogram and the collector's counters.
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`procfsd_render_seconds_count{file="meminfo",tree="shared"} 3`,
		`procfsd_render_seconds_sum{file="meminfo",tree="shared"} 0.003`,
		`procfsd_reads_total{file="meminfo",tree="shared"} 3`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("exposition lacks %q:\n%s", line, body)
		}
	}
}

// A set with no sources (a server not yet serving) still exposes and reports zeros.
func TestNoSources(t *testing.T) {
	s := New(SharedTree)
	if n := testutil.CollectAndCount((*collector)(s)); n != 8 {
		t.Errorf("collected %d metrics without files, want 8", n)
	}
	if st := s.Status(); st.Containers != 0 || st.Files == nil {
		t.Errorf("Status = %+v", st)
	}
}

// Read is on every FUSE read: it must not allocate (docs/behaviour.md §5.2).
func TestReadDoesNotAllocate(t *testing.T) {
	f := New(SharedTree).File("meminfo")
	if n := testing.AllocsPerRun(1000, func() { f.Read(time.Microsecond); f.Fallback() }); n != 0 {
		t.Errorf("Read and Fallback allocate %v times", n)
	}
}
