//go:build race

package cgroupview

// raceEnabled: the race detector instruments allocations, so allocation counts are not checked.
const raceEnabled = true
