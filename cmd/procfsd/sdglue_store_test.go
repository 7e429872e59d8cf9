package main

import (
	"encoding/binary"
	"os"
	"procfsd/internal/testenv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// initRequest builds a FUSE_INIT request as the kernel sends it: a 40-byte header and the
// 64-byte fuse_init_in.
func initRequest() []byte {
	b := make([]byte, inHeaderSize+64)
	binary.LittleEndian.PutUint32(b[0:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[4:], opInit)
	binary.LittleEndian.PutUint64(b[8:], 2) // unique
	binary.LittleEndian.PutUint32(b[inHeaderSize:], 7)
	binary.LittleEndian.PutUint32(b[inHeaderSize+4:], 41)
	return b
}

// TestSealedInit: the INIT request comes back byte for byte, and nobody can change it.
func TestSealedInit(t *testing.T) {
	want := initRequest()
	fd, err := sealedInit(want)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), fdNameInit)
	defer f.Close()
	got, err := readInit(f)
	if err != nil || string(got) != string(want) {
		t.Fatalf("readInit = %x, %v; want %x", got, err, want)
	}
	if _, err := unix.Pwrite(fd, []byte{0}, 0); err != unix.EPERM {
		t.Errorf("write to the sealed memfd: %v, want EPERM", err)
	}
	if err := unix.Ftruncate(fd, 1); err != unix.EPERM {
		t.Errorf("truncate the sealed memfd: %v, want EPERM", err)
	}
}

func TestCheckInit(t *testing.T) {
	good := initRequest()
	wrongOp := initRequest()
	binary.LittleEndian.PutUint32(wrongOp[4:], 1) // LOOKUP
	wrongLen := initRequest()
	binary.LittleEndian.PutUint32(wrongLen[0:], 80)
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"init", good, ""},
		{"empty", nil, "0 bytes is no INIT request"},
		{"short", good[:39], "39 bytes is no INIT request"},
		{"other opcode", wrongOp, "opcode 1; want 104 bytes, opcode 26"},
		{"length mismatch", wrongLen, "header says 80 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkInit(tt.in)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkInit: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestDupFuse: only /dev/fuse is adopted, and the duplicate is close-on-exec.
func TestDupFuse(t *testing.T) {
	testenv.RequireFUSE(t)
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open /dev/fuse: %v", err)
	}
	defer f.Close()
	fd, err := dupFuse(f)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("duplicate of /dev/fuse is inheritable")
	}
	null, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if fd, err := dupFuse(null); err == nil || !strings.Contains(err.Error(), "is not /dev/fuse (device 1:3)") {
		unix.Close(fd)
		t.Errorf("dupFuse(/dev/null) = %v, want a 'not /dev/fuse' error", err)
	}
}

// TestAdoptStoredIncomplete: half a stored connection is refused, nothing at all is no error.
func TestAdoptStoredIncomplete(t *testing.T) {
	testenv.RequireFUSE(t)
	if conn, err := adoptStored(nil, t.TempDir()); conn != nil || err != nil {
		t.Errorf("adoptStored(nothing) = %v, %v; want nil, nil", conn, err)
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/fuse: %v", err)
	}
	fuse := os.NewFile(uintptr(fd), fdNameFuse) // adoptStored closes it
	if conn, err := adoptStored([]*os.File{fuse}, t.TempDir()); conn != nil || err == nil || !strings.Contains(err.Error(), "fuse without fuse-init") {
		t.Errorf("adoptStored(fuse only) = %v, %v; want a 'fuse without fuse-init' error", conn, err)
	}
}
