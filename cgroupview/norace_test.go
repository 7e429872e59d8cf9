//go:build !race

package cgroupview

const raceEnabled = false
