package statedir

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// MapFile maps dir/name shared and read-write, creating it (and dir) and sizing it to size
// bytes; what names it in errors. The mapping outlives the descriptor, and writes to it outlive
// the process, which is the point of the journals (docs/behaviour.md §5).
func MapFile(dir, name string, size int, what string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	path := filepath.Join(dir, name)
	f, err := openMappedStateFile(dir, name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", what, err)
	}
	defer f.Close() // the mapping keeps the file
	if err := f.Truncate(int64(size)); err != nil {
		return nil, fmt.Errorf("size %s %s: %w", what, path, err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s %s: %w", what, path, err)
	}
	return mem, nil
}
