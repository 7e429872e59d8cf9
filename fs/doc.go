// Package fs is procfsd's FUSE edge: a static tree of per-container /proc files served
// through go-fuse's raw protocol layer, and the Server that ties the daemon's parts together.
//
// # Why the raw layer
//
// go-fuse's fs package allocates node IDs at run time, so a new process cannot serve a connection
// an old one opened. Here the tree is a table (table.go) whose node IDs are constants; handles are
// small and rebuilt from the request when unknown (handle.go). The connection itself, its request
// loops and their journal belong to package fuseconn, which feeds each request to a
// fuse.ProtocolServer over this package's rawFS and saves the INIT request so that a successor
// process can replay it and carry on serving the same mount (docs/behaviour.md §5.1,
// docs/restarts.md). Serve (serve.go) runs one connection's life top to bottom.
//
// # A request
//
// OPEN resolves the reader's container once (cgroupview.Reader.Resolve) and stores it in the
// handle. READ at offset 0 renders the whole file afresh (render.go gathers the inputs, package
// proc turns them into bytes); later offsets continue that snapshot, as fs/seq_file.c does.
// Files are opened with FOPEN_DIRECT_IO (every read reaches us) and FOPEN_NOFLUSH; names and
// attributes are cached by the kernel for an hour because the tree never changes. Whether a
// reader sees its own numbers is the switches' (package switches); what a container's
// counters and load averages were is its history (package history).
//
// # Errors
//
// A file that cannot be computed for a container is answered with the host's file and logged
// once per container and file (history.State.LogOnce); a renderer's panic is treated the same
// way. Errors become errno only in errno.go.
//
// # Deadlocks
//
// Nothing here may touch the mountpoint, fork or exec while answering a request, or hold a
// lock across anything that can call back into FUSE. Locks are per handle and per container;
// the handle table is sharded maps, each with its own lock, and the container tables are
// sync.Maps.
package fs
