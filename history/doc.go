// Package history is what procfsd remembers about each container between reads: its
// /proc/stat clock (so counters never go back), its load averages and the sampler that feeds
// them within a CPU budget, and the files that carry all of it across a restart or a crash
// (history.json and the clock journal under --state-dir; docs/behaviour.md §2.3, §2.4, §5).
package history
