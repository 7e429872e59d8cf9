package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// memberResult is what one scale-run container reports for each daemon it read.
type memberResult struct {
	Reads  map[string]int     `json:"reads"`
	Errors map[string]int     `json:"errors"`
	Move   map[string]float64 `json:"move_s"` // burner start → first rise of the 1-min load; -1: none
	First  string             `json:"first_error,omitempty"`
}

// runMember is the init of one scale-run container. It starts two sleeping processes (with it
// and unshare, four live processes per container), waits for the harness's start signal (EOF
// on descriptor 3), then once per second reads every file from every daemon. At -burn-at it
// starts a CPU burner in the throttled child cgroup -busy (state R, about no CPU) and times
// how long each daemon's 1-minute load takes to rise: the freshness of its loadavg. After
// -read-for it prints its result and sleeps until the harness kills the container.
func runMember(args []string) error {
	fl := flag.NewFlagSet("member", flag.ContinueOnError)
	targets := fl.String("targets", "", "name=path-template,...")
	files := fl.String("files", "loadavg", "files read every second")
	phase := fl.Duration("phase", 0, "offset of this container's reads within each second")
	burnAt := fl.Duration("burn-at", 0, "when the burner starts, after the start signal")
	busy := fl.String("busy", "", "the throttled cgroup the burner runs in")
	readFor := fl.Duration("read-for", time.Minute, "how long to read")
	if err := fl.Parse(args); err != nil {
		return err
	}
	type tgt struct{ name, tmpl string }
	var tgts []tgt
	for _, t := range strings.Split(*targets, ",") {
		n, p, ok := strings.Cut(t, "=")
		if !ok {
			return fmt.Errorf("bad target %q", t)
		}
		tgts = append(tgts, tgt{n, p})
	}
	for range 2 {
		if err := exec.Command("sleep", "1000000").Start(); err != nil {
			return fmt.Errorf("start sleeper: %w", err)
		}
	}
	var b [1]byte
	for { // the start signal: the harness closes the pipe's other end
		if _, err := unix.Read(3, b[:]); err != unix.EINTR {
			break
		}
	}
	t0 := time.Now()
	res := memberResult{Reads: map[string]int{}, Errors: map[string]int{}, Move: map[string]float64{}}
	before := map[string]float64{}
	for _, t := range tgts {
		res.Move[t.name] = -1
	}
	buf := make([]byte, 64<<10)
	var burner *exec.Cmd
	var burnStart time.Time
	fileList := strings.Split(*files, ",")
	for k := 0; ; k++ {
		next := t0.Add(*phase + time.Duration(k)*time.Second)
		if next.Sub(t0) >= *readFor {
			break
		}
		time.Sleep(time.Until(next))
		if burner == nil && time.Since(t0) >= *burnAt && *busy != "" {
			var err error
			if burner, err = startBurner(*busy); err != nil {
				res.First = err.Error()
				*busy = ""
			}
			burnStart = time.Now()
		}
		for i := range tgts {
			t := tgts[(i+k)%len(tgts)] // alternate which daemon is read first
			for _, f := range fileList {
				n, err := readAll(filePath(t.tmpl, f), buf)
				res.Reads[t.name]++
				if err != nil {
					res.Errors[t.name]++
					if res.First == "" {
						res.First = err.Error()
					}
					continue
				}
				if f != "loadavg" {
					continue
				}
				load, _ := strconv.ParseFloat(string(bytes.Fields(buf[:n])[0]), 64)
				switch {
				case burner == nil:
					before[t.name] = load
				case res.Move[t.name] < 0 && load > before[t.name]:
					res.Move[t.name] = time.Since(burnStart).Seconds()
				}
			}
		}
		if burner != nil && burner.Process != nil && (allMoved(res.Move) || time.Since(burnStart) > 25*time.Second) {
			burner.Process.Kill()
			burner.Wait()
			burner.Process = nil
		}
	}
	if burner != nil && burner.Process != nil {
		burner.Process.Kill()
		burner.Wait()
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return err
	}
	os.Stdout.Close()
	for {
		time.Sleep(time.Hour)
	}
}

func allMoved(m map[string]float64) bool {
	for _, v := range m {
		if v < 0 {
			return false
		}
	}
	return true
}

// startBurner runs a busy loop in the cgroup busy, whose CFS quota keeps it runnable (state R,
// counted by both daemons) while it gets about no CPU.
func startBurner(busy string) (*exec.Cmd, error) {
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start burner: %w", err)
	}
	if err := joinCgroup(busy, cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	return cmd, nil
}

// readAll opens, reads to EOF and closes path; the bytes of the first read are in buf[:n].
func readAll(path string, buf []byte) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	total := 0
	for {
		n, err := unix.Read(fd, buf[total:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return total, fmt.Errorf("read %s: %w", path, err)
		}
		if n == 0 || total+n == len(buf) {
			if total+n == 0 {
				return 0, fmt.Errorf("read %s: empty", path)
			}
			return total + n, nil
		}
		total += n
	}
}
