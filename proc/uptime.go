package proc

import (
	"bytes"
	"fmt"
)

// /proc/uptime (kernel fs/proc/uptime.c: "%lu.%02lu %lu.%02lu\n"). docs/behaviour.md §2.4: uptime
// is the age of the container's init, idle the CPU time its visible CPUs did not spend on the
// container.

// ContainerUptime returns /proc/uptime's two figures from the init's age (seconds), the visible
// CPU count and the container's total CPU time (seconds): idle = max(0, uptime×cpus − cpu time).
// Like the kernel's idle, it is summed over CPUs, unlike LXCFS's, which never exceeds uptime.
// Negative or NaN inputs (a clock read racing the init's start) count as 0.
func ContainerUptime(uptime float64, cpus int, cpuSeconds float64) (up, idle float64) {
	up = nonNegative(uptime)
	idle = up*float64(max(cpus, 1)) - nonNegative(cpuSeconds)
	return up, nonNegative(idle)
}

// RenderUptime appends "uptime idle\n" with two decimals ("%.2f"; the kernel truncates to
// hundredths instead of rounding, a difference below what a reader can rely on).
func RenderUptime(w *bytes.Buffer, uptime, idle float64) {
	fmt.Fprintf(w, "%.2f %.2f\n", nonNegative(uptime), nonNegative(idle))
}

func nonNegative(x float64) float64 {
	if x > 0 { // false for NaN too
		return x
	}
	return 0
}
