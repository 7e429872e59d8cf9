package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"procfsd/fuseconn"
	"procfsd/reattach"
)

// Names of procfsd's entries in systemd's fd store.
const (
	fdNameFuse = "fuse"      // the /dev/fuse descriptor of the mount
	fdNameInit = "fuse-init" // a sealed memfd holding the connection's INIT request
)

const (
	opInit       = 26 // FUSE_INIT (include/uapi/linux/fuse.h)
	inHeaderSize = 40 // sizeof(struct fuse_in_header)
	maxInitSize  = 4096
)

// sealedInit returns a memfd holding init, sealed against any change: the fd store hands it
// back unchanged to the next process.
func sealedInit(init []byte) (int, error) {
	fd, err := unix.MemfdCreate(fdNameInit, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("create memfd: %w", err)
	}
	if _, err := unix.Pwrite(fd, init, 0); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("write memfd: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("seal memfd: %w", err)
	}
	return fd, nil
}

// readInit reads and checks an INIT request kept by sealedInit.
func readInit(r io.ReaderAt) ([]byte, error) {
	buf := make([]byte, maxInitSize+1)
	n, err := r.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", fdNameInit, err)
	}
	return checkInit(buf[:n])
}

// checkInit accepts a FUSE_INIT request: a header of its own length and opcode.
func checkInit(b []byte) ([]byte, error) {
	if len(b) < inHeaderSize || len(b) > maxInitSize {
		return nil, fmt.Errorf("check %s: %d bytes is no INIT request", fdNameInit, len(b))
	}
	if n, op := binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint32(b[4:8]); int(n) != len(b) || op != opInit {
		return nil, fmt.Errorf("check %s: header says %d bytes, opcode %d; want %d bytes, opcode %d", fdNameInit, n, op, len(b), opInit)
	}
	return b, nil
}

// adoptStored returns the connection among the descriptors systemd passed on start, nil if
// there is none. Every passed descriptor is closed except the adopted one's duplicate.
func adoptStored(files []*os.File, mountpoint string) (*fuseconn.Conn, error) {
	var fuseFile, initFile *os.File
	for _, f := range files {
		defer f.Close()
		switch f.Name() {
		case fdNameFuse:
			fuseFile = f
		case fdNameInit:
			initFile = f
		}
	}
	switch {
	case fuseFile == nil && initFile == nil:
		return nil, nil
	case fuseFile == nil:
		return nil, fmt.Errorf("adopt stored connection: %s without %s", fdNameInit, fdNameFuse)
	case initFile == nil:
		return nil, fmt.Errorf("adopt stored connection: %s without %s", fdNameFuse, fdNameInit)
	}
	init, err := readInit(initFile)
	if err != nil {
		return nil, fmt.Errorf("adopt stored connection: %w", err)
	}
	if !reattach.Mounted(mountpoint) {
		return nil, fmt.Errorf("adopt stored connection: no %s mount at %s", reattach.FSType, mountpoint)
	}
	fd, err := dupFuse(fuseFile)
	if err != nil {
		return nil, fmt.Errorf("adopt stored connection: %w", err)
	}
	return fuseconn.Adopt(fd, mountpoint, init), nil
}

// dupFuse checks that f is /dev/fuse (character device 10:229, Documentation/admin-guide/devices.txt)
// and returns a close-on-exec duplicate that outlives f, leaving its blocking mode alone.
func dupFuse(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("use %s: %w", fdNameFuse, err)
	}
	fd, ctlErr := -1, error(nil)
	err = rc.Control(func(raw uintptr) {
		var st unix.Stat_t
		if ctlErr = unix.Fstat(int(raw), &st); ctlErr != nil {
			return
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 10 || unix.Minor(st.Rdev) != 229 {
			ctlErr = fmt.Errorf("%s is not /dev/fuse (device %d:%d)", fdNameFuse, unix.Major(st.Rdev), unix.Minor(st.Rdev))
			return
		}
		fd, ctlErr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 3)
	})
	if err == nil {
		err = ctlErr
	}
	if err != nil {
		return -1, fmt.Errorf("duplicate %s: %w", fdNameFuse, err)
	}
	return fd, nil
}
