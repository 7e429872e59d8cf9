package proc

// SampleN folds one count that stands for n intervals into the averages: the kernel's
// calc_load_n (kernel/sched/loadavg.c), which decays by exp^n, as if the same count had been
// sampled n times. A sampler that counts a costly container only every n-th interval keeps
// its averages on the same curve when the count holds, and correct in expectation otherwise.
// n of 1 or less is one interval: Sample.
func (l *Loadavg) SampleN(active, n int) {
	a := activeFixed(active)
	for i := range l.avenrun {
		e := l.exp[i]
		if n > 1 {
			e = fixedPowerInt(e, uint(n))
		}
		l.avenrun[i] = calcLoad(l.avenrun[i], e, a)
	}
}

// fixedPowerInt is the kernel's fixed_power_int for FSHIFT bits: x^n in fixed point by
// squaring, rounding each product to nearest.
func fixedPowerInt(x uint64, n uint) uint64 {
	result := uint64(fixed1)
	for n > 0 {
		if n&1 != 0 {
			result = (result*x + fixed1/2) >> fshift
		}
		n >>= 1
		if n == 0 {
			break
		}
		x = (x*x + fixed1/2) >> fshift
	}
	return result
}
