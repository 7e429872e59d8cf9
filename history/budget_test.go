package history

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"procfsd/cgroupview"
)

// TestPlanSamplingBudget: the sampler's budget (5% of a 1 s interval: 50 ms) is shared from
// the cheapest container up; the costly one is counted every k intervals, k its cost over what
// is left, logged once when it becomes degraded and once when it recovers, with a quarter to
// spare so that a cost hovering at its share does not flap.
func TestPlanSamplingBudget(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	srv, err := newStore(testConfig{ProcRoot: "/proc", CgroupRoot: "/sys/fs/cgroup", LoadavgInterval: time.Second, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(cost time.Duration) *State {
		st := &State{}
		st.Loadavg(cgroupview.Tasks{}, time.Second)
		st.plan.cost = cost
		return st
	}
	a, b, c := mk(time.Millisecond), mk(2*time.Millisecond), mk(200*time.Millisecond)
	list := func() []planned { return []planned{{"/c", c}, {"/a", a}, {"/b", b}} }
	plan := func(want int) {
		t.Helper()
		srv.planSampling(list())
		if a.SampledEvery() != 1 || b.SampledEvery() != 1 || c.SampledEvery() != want {
			t.Errorf("every %d, %d, %d intervals; want 1, 1, %d", a.SampledEvery(), b.SampledEvery(), c.SampledEvery(), want)
		}
	}
	degraded := func() int { return logs.FilterMessageSnippet("sampled less often").Len() }
	recovered := func() int { return logs.FilterMessageSnippet("every interval again").Len() }

	plan(5) // 47 ms left for /c: every ceil(200/47) intervals
	plan(5)
	if degraded() != 1 || recovered() != 0 {
		t.Errorf("%d degraded and %d recovered lines, want 1 and 0", degraded(), recovered())
	}
	if _, less := srv.SamplerStats(); srv.cfg.Budget != 0.05 || len(less) != 1 || less[0].Container != "/c" || less[0].Every != 5 {
		t.Errorf("status %+v, want /c every 5 intervals within a budget of 5%%", less)
	}
	c.plan.cost = 40 * time.Millisecond // fits its 47 ms, but not with a quarter to spare
	plan(2)
	c.plan.cost = 30 * time.Millisecond
	plan(1)
	if degraded() != 1 || recovered() != 1 {
		t.Errorf("%d degraded and %d recovered lines, want 1 and 1", degraded(), recovered())
	}
	if _, less := srv.SamplerStats(); len(less) != 0 {
		t.Errorf("status lists %+v after recovery", less)
	}
	c.plan.cost = time.Hour
	plan(maxEvery)
}

// TestSamplePlanDue: a container counted every k passes is sampled on the k-th, the sample
// standing for the k intervals since the last one; a shorter plan takes effect at once.
func TestSamplePlanDue(t *testing.T) {
	var p samplePlan
	var got []int
	for range 7 {
		if n, ok := p.due(3); ok {
			got = append(got, n)
		}
	}
	if n, ok := p.due(1); !ok || n != 2 {
		t.Errorf("after the plan shrank: due %v standing for %d intervals, want 2", ok, n)
	}
	if len(got) != 2 || got[0] != 3 || got[1] != 3 {
		t.Errorf("samples standing for %v intervals, want [3 3]", got)
	}
}

// TestSamplePlanCost: the cost planned for is the mean CPU time of the container's recent
// samples, so an idle container, counted in full one sample in six, is planned at about a
// sixth of a count; the first sample alone sets it.
func TestSamplePlanCost(t *testing.T) {
	var p samplePlan
	p.observe(90 * time.Millisecond)
	if p.cost != 90*time.Millisecond {
		t.Fatalf("cost after one count %v, want 90ms", p.cost)
	}
	for i := range 120 {
		d := 10 * time.Microsecond
		if i%6 == 5 {
			d = 90 * time.Millisecond
		}
		p.observe(d)
		if i >= 24 && (p.cost < 10*time.Millisecond || p.cost > 22*time.Millisecond) {
			t.Fatalf("sample %d: cost %v, want about 15ms", i, p.cost)
		}
	}
}
