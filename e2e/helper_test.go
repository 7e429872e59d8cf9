//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// helperEnv selects a helper mode: the test binary re-executed as a small, predictable reader
// process, placed in a test cgroup or container by the test.
const helperEnv = "PROCFSD_E2E_HELPER"

// helperCommand returns a gated command running the test binary in a helper mode.
func helperCommand(exe, mode string, args ...string) *exec.Cmd {
	cmd := gated(append([]string{exe}, args...)...)
	cmd.Env = append(cmd.Env, helperEnv+"="+mode)
	return cmd
}

func runHelper(mode string, args []string) int {
	var err error
	switch mode {
	case "hold":
		err = helperHold(args)
	case "read":
		err = helperRead(args)
	case "threads":
		err = helperThreads(args)
	case "holdmany":
		err = helperHoldMany(args) // hardening_cost_test.go
	case "holdchurn":
		err = helperHoldChurn(args) // hardening_cost_test.go
	case "snapreader":
		err = helperSnapshotReader(args) // hardening_cost_test.go
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

// helperHold opens FILE, prints one whole read, then "@held", and on SIGUSR1 reads the same open
// file again from offset 0 and prints that, then "@done".
func helperHold(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: hold FILE")
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := preadAll(f)
	if err != nil {
		return err
	}
	fmt.Printf("%s@held\n", b)
	select {
	case <-usr1:
	case <-time.After(60 * time.Second):
		return fmt.Errorf("no SIGUSR1 within 60s")
	}
	b, err = preadAll(f)
	if err != nil {
		return err
	}
	fmt.Printf("%s@done\n", b)
	return nil
}

// helperRead reads FILE N times (open, read, close) and prints each content followed by "@end".
func helperRead(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: read FILE N")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	for range n {
		b, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		fmt.Printf("%s@end\n", b)
	}
	return nil
}

// preadAll reads an open file from offset 0 to EOF with pread, in 4 KiB steps.
func preadAll(f *os.File) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		out.Write(buf[:n])
		off += int64(n)
		if err == io.EOF || (err == nil && n == 0) {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}
