package proc

import (
	"math"
	"testing"
	"time"
)

// TestLoadavgSampleN: one count standing for n intervals decays the averages as n samples of
// that count do, within the fixed point's rounding, and as exp(-n·interval/period) says.
func TestLoadavgSampleN(t *testing.T) {
	for _, n := range []int{1, 2, 7, 60} {
		one, many := NewLoadavg(8, time.Second), NewLoadavg(8, time.Second)
		for range n {
			one.Sample(1)
		}
		many.SampleN(1, n)
		for i := range 3 {
			a, b := float64(one.avenrun[i])/fixed1, float64(many.avenrun[i])/fixed1
			want := 1 + 7*math.Exp(-float64(n)/loadPeriods[i].Seconds())
			if math.Abs(a-b) > 0.06 || math.Abs(b-want) > 0.06 { // exp per interval is rounded to 1/2048
				t.Errorf("n=%d, average %d: %d samples give %.3f, SampleN %.3f, exp says %.3f", n, i, n, a, b, want)
			}
		}
	}
	if got := fixedPowerInt(1884, 1); got != 1884 {
		t.Errorf("fixedPowerInt(EXP_1, 1) = %d", got)
	}
	if got := fixedPowerInt(1884, 0); got != fixed1 {
		t.Errorf("fixedPowerInt(EXP_1, 0) = %d", got)
	}
}
