package fs

import (
	"errors"
	"os"

	"procfsd/switches"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
)

// status is the one place an error becomes a FUSE status (errno). Errors are matched with
// errors.Is, so wrapped causes map correctly.
func (s *Server) status(err error) fuse.Status {
	switch {
	case err == nil:
		return fuse.OK
	case errors.Is(err, switches.ErrBadValue):
		return fuse.EINVAL
	case errors.Is(err, switches.ErrPermission):
		return fuse.EPERM
	case errors.Is(err, os.ErrNotExist):
		return fuse.ENOENT
	}
	s.log.Warn("request failed", zap.Error(err))
	return fuse.EIO
}

func defaultRaw() fuse.RawFileSystem { return fuse.NewDefaultRawFileSystem() }
