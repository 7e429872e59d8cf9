package fs

import (
	"go.uber.org/zap"

	"procfsd/switches"
)

// readControl renders a switch file: the host switch, or the reader's own effective value
// (docs/behaviour.md §3); a reader in a root cgroup is never isolated, as in the kernel.
func (s *Server) readControl(h *handle) ([]byte, error) {
	on, err := s.switches.Host()
	if err != nil {
		return nil, err
	}
	if h.node.id == idContainerSwitch {
		c := s.resolve(h.pid)
		on = c != nil && !c.Root && s.switches.ContainerIsolated(c)
	}
	return []byte(switches.Value(on) + "\n"), nil
}

const (
	idHostSwitch      = 22
	idContainerSwitch = 23
)

// switchOf is the switch control file n holds.
func switchOf(n *node) switches.Which {
	if n.id == idHostSwitch {
		return switches.Host
	}
	return switches.Container
}

// writeControl applies a write to a switch file, if the writer may change that switch
// (switches.Board.Authorize); a refused write changes nothing and is EPERM (docs/behaviour.md §4).
func (s *Server) writeControl(n *node, pid int, uid uint32, data []byte) error {
	on, err := switches.ParseSwitch(data)
	if err != nil {
		return err
	}
	c, err := s.switches.Authorize(switchOf(n), pid, uid)
	if err != nil {
		return err
	}
	switch n.id {
	case idHostSwitch:
		return s.switches.SetHost(on, "write")
	case idContainerSwitch:
		if s.switches.Kernel() != nil {
			// The helper is a fork/exec, which a FUSE request must not wait for (docs/behaviour.md §5).
			go func() {
				if _, err := s.switches.SetContainer(c, on, switches.SourceWrite); err != nil {
					s.log.Error("set native container switch", zap.String("container", c.ID), zap.Error(err))
				}
			}()
			return nil
		}
		_, err = s.switches.SetContainer(c, on, switches.SourceWrite)
		return err
	}
	return nil
}

// authorizeOpen refuses to open a switch file for writing to a caller that may not change it,
// as the kernel checks a sysctl's opener as well as its writer (fs/proc/proc_sysctl.c:
// proc_sys_permission at open, sysctl_perm at write): a switch file opened by anyone and handed
// to a privileged writer, as a set-uid program's output, changes nothing.
func (s *Server) authorizeOpen(n *node, pid int, uid uint32) error {
	_, err := s.switches.Authorize(switchOf(n), pid, uid)
	return err
}
