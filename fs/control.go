package fs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"go.uber.org/zap"
)

// Errors of the control files (SPEC §3, §4), mapped to errno in errno.go.
var (
	ErrBadValue   = errors.New("control value must be 0 or 1")
	ErrPermission = errors.New("caller may not change this switch")
)

// parseSwitch accepts "0" or "1" with an optional trailing newline, as sysctl(8) writes them.
func parseSwitch(data []byte) (bool, error) {
	v := bytes.TrimSuffix(data, []byte("\n"))
	switch string(v) {
	case "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, fmt.Errorf("%w: got %q", ErrBadValue, data)
}

// readControl renders a switch file: the host switch, or the reader's own effective value
// (SPEC §3); a reader in a root cgroup is never isolated, as in the kernel.
func (s *Server) readControl(h *handle) ([]byte, error) {
	on, err := s.hostSwitch()
	if err != nil {
		return nil, err
	}
	if h.node.id == idContainerSwitch {
		c := s.resolve(h.pid)
		on = c != nil && !c.Root && s.containerIsolated(c)
	}
	return []byte(switchValue(on) + "\n"), nil
}

const (
	idHostSwitch      = 22
	idContainerSwitch = 23
)

// writeControl applies a write to a switch file. The host switch may be written only by the
// host's root (uid 0 of the host user namespace, in the host PID namespace); the container
// switch only by the root of the writer's own container, and only for that container.
func (s *Server) writeControl(n *node, pid int, uid uint32, data []byte) error {
	on, err := parseSwitch(data)
	if err != nil {
		return err
	}
	c, err := s.cgroups.Resolve(pid)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	switch n.id {
	case idHostSwitch:
		if uid != 0 || c.InitPID != 0 {
			return fmt.Errorf("%w: host switch needs the host's root", ErrPermission)
		}
		return s.setHost(on, "write")
	case idContainerSwitch:
		root, err := containerRoot(s.cfg.ProcRoot, pid, uid)
		if err != nil || !root || c.Root {
			return fmt.Errorf("%w: container switch needs the container's root", ErrPermission)
		}
		if s.cfg.Kernel != nil {
			// The helper is a fork/exec, which a FUSE request must not wait for (SPEC §5).
			go func() {
				if _, err := s.setContainer(c, on, SourceWrite); err != nil {
					s.log.Error("set native container switch", zap.String("container", c.ID), zap.Error(err))
				}
			}()
			return nil
		}
		_, err = s.setContainer(c, on, SourceWrite)
		return err
	}
	return nil
}

// containerRoot reports whether host uid maps to uid 0 in the user namespace of pid, i.e. the
// writer is its container's root even when that root is a remapped host uid.
func containerRoot(procRoot string, pid int, uid uint32) (bool, error) {
	f, err := os.Open(filepath.Join(procRoot, strconv.Itoa(pid), "uid_map"))
	if err != nil {
		return false, fmt.Errorf("read uid_map: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var inside, outside, count uint64
		if _, err := fmt.Sscan(sc.Text(), &inside, &outside, &count); err != nil {
			continue
		}
		if uint64(uid) >= outside && uint64(uid)-outside < count {
			return inside+(uint64(uid)-outside) == 0, nil
		}
	}
	return false, sc.Err()
}
