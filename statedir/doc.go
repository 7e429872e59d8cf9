// Package statedir reads and maps the files procfsd keeps under --state-dir, and reads with a
// bound the files other programs write (Docker's metadata): a damaged or hostile file costs a
// log line, never the daemon.
package statedir
