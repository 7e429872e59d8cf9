// Package proc renders the virtual /proc files of a container from the host's own files and the
// container's cgroup figures.
//
// It is pure: every renderer takes the host file as bytes plus the numbers a cgroupview.Reader
// produced, and appends the container's file to a bytes.Buffer. Nothing here opens files, reads
// clocks or logs; time enters as an argument (CPUSample.Uptime, the Loadavg sampling interval).
// The same input therefore gives the same bytes on any machine, which is what makes the golden
// files under testdata/golden possible.
//
// Key/value files (meminfo, vmstat) are rewritten line by line (lines.go): the host's line set,
// order and spacing are kept and only the values the container owns are replaced (docs/behaviour.md
// §2.2). A renderer that cannot make sense of its host file returns a wrapped error and the caller
// serves the host file instead (docs/behaviour.md §4); no input makes a renderer panic.
//
// The two stateful models, CPUClock (/proc/stat, docs/behaviour.md §2.3) and Loadavg
// (/proc/loadavg, docs/behaviour.md §2.4), keep their history in the struct; the caller owns one of
// each per container and serialises access to it.
package proc
