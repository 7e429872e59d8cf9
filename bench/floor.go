package main

import (
	"context"

	"procfsd/fuseconn"

	"go.uber.org/zap"
)

// ServeFloor answers conn (made by fuseconn.Mount, so with procfsd's mount options) with a
// null tree (fuseconn.NullFS): one directory holding one file, FloorFile, whose content is the
// constant content, opened with the flags procfsd's files use (direct I/O, no flush). Requests
// go through the same /dev/fuse loops and protocol-server options as procfsd's Serve
// (fuseconn.ServeRaw), without a journal, state or control socket, until ctx ends or the
// connection goes away. The harness reads it as the FUSE floor: the cost of a read that does
// no work of its own, so that procfsd's latency divided by the floor's isolates procfsd's own
// work.
func ServeFloor(ctx context.Context, conn *fuseconn.Conn, content []byte) error {
	// A nil journal journals nothing; a fresh mount has nothing to recover.
	return fuseconn.ServeRaw(ctx, conn, fuseconn.NewNullFS(content), nil, fuseconn.DefaultBusyPoll, zap.NewNop(), nil, nil)
}

// FloorFile is the name of the floor's one file.
const FloorFile = fuseconn.NullFile
