//go:build e2e

package e2e

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestControlFiles checks the two switches from a host caller and from containers: bad values
// are EINVAL and change nothing, a container cannot touch the host switch, and each switch
// changes exactly the views it scopes (docs/behaviour.md §3, §4).
func TestControlFiles(t *testing.T) {
	h := readHost(t)
	d := startDaemon(t, daemonOptions{})
	la, lb := limits{memory: 256 << 20}, limits{memory: 1 << 30}
	ca, cb := newCgroup(t, la), newCgroup(t, lb)
	a := newUnshareContainer(t, d, "A", ca, ca)
	b := newUnshareContainer(t, d, "B", cb, cb)
	memA, memB := expectView(t, h, la).memTotal, expectView(t, h, lb).memTotal
	host := d.path(controlFiles[0])
	ctr := d.path(controlFiles[1])

	expectRead := func(t *testing.T, p, want string) {
		t.Helper()
		if got := string(readFile(t, p)); got != want {
			t.Errorf("read %s = %q, want %q", p, got, want)
		}
	}
	write := func(p, v string) error {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteString(v)
		return err
	}

	t.Run("bad values", func(t *testing.T) {
		expectRead(t, host, "1\n")
		for _, v := range []string{"2\n", "abc", "01", "1 ", "-1", strings.Repeat("1", 5000)} {
			if err := write(host, v); !errors.Is(err, syscall.EINVAL) {
				t.Errorf("write %.10q to %s: %v, want EINVAL", v, controlFiles[0], err)
			}
		}
		expectRead(t, host, "1\n")
		out, err := run(a, "sh", "-c", "printf 7 > "+shellQuote(ctr))
		if err == nil {
			t.Errorf("a container wrote 7 to %s: %q", controlFiles[1], out)
		}
		checkMemTotal(t, a, memA)
	})

	t.Run("host switch", func(t *testing.T) {
		// A container's root is not host root: it may not change the host switch.
		if out, err := run(a, "sh", "-c", "echo 0 > "+shellQuote(host)); err == nil {
			t.Errorf("a container wrote %s: %q", controlFiles[0], out)
		}
		expectRead(t, host, "1\n")
		checkMemTotal(t, a, memA)

		if err := write(host, "0\n"); err != nil {
			t.Fatalf("host root writes 0 to %s: %v", controlFiles[0], err)
		}
		t.Cleanup(func() { write(host, "1\n") })
		expectRead(t, host, "0\n")
		checkMemTotal(t, a, h.memTotal)
		checkMemTotal(t, b, h.memTotal)
		if err := write(host, "1\n"); err != nil {
			t.Fatalf("host root writes 1 to %s: %v", controlFiles[0], err)
		}
		checkMemTotal(t, a, memA)
		checkMemTotal(t, b, memB)
	})

	t.Run("container switch", func(t *testing.T) {
		mustRun(t, a, "sh", "-c", "echo 0 > "+shellQuote(ctr))
		t.Cleanup(func() { run(a, "sh", "-c", "echo 1 > "+shellQuote(ctr)) })
		if got := mustRun(t, a, "cat", ctr); got != "0\n" {
			t.Errorf("A reads %s = %q after writing 0, want \"0\\n\"", controlFiles[1], got)
		}
		if got := mustRun(t, b, "cat", ctr); got != "1\n" {
			t.Errorf("B reads %s = %q after A wrote 0, want \"1\\n\"", controlFiles[1], got)
		}
		expectRead(t, host, "1\n")
		checkMemTotal(t, a, h.memTotal)
		checkMemTotal(t, b, memB)
		mustRun(t, a, "sh", "-c", "echo 1 > "+shellQuote(ctr))
		checkMemTotal(t, a, memA)
	})
	d.alive(t)
}
