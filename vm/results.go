package vm

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNotFinished means the guest runner never wrote out/done: it hung, crashed or never started.
var ErrNotFinished = errors.New("vm: guest runner did not finish")

// Result is the outcome of one guest suite, as the runner recorded it under the share's out/.
type Result struct {
	Suite  string
	Status int    // exit status; -1 when the suite never reported one
	Log    string // its combined output
}

// WriteSuites names the suites the guest runner is to run, in order.
func WriteSuites(share string, suites []string) error {
	body := strings.Join(suites, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(share, "suites"), []byte(body), 0o644); err != nil {
		return fmt.Errorf("write suites: %w", err)
	}
	return nil
}

// ReadResults returns one Result per suite, in the order given, from the share's out/ directory:
// out/results holds "suite status" lines, out/<suite>.log each suite's output. A suite missing
// from out/results gets Status -1. The error wraps [ErrNotFinished] when out/done is absent; the
// results read so far are returned with it.
func ReadResults(share string, suites []string) ([]Result, error) {
	out := filepath.Join(share, "out")
	status, err := readStatus(filepath.Join(out, "results"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	res := make([]Result, 0, len(suites))
	for _, s := range suites {
		r := Result{Suite: s, Status: -1}
		if st, ok := status[s]; ok {
			r.Status = st
		}
		if b, err := os.ReadFile(filepath.Join(out, s+".log")); err == nil {
			r.Log = string(b)
		}
		res = append(res, r)
	}
	if _, err := os.Stat(filepath.Join(out, "done")); err != nil {
		return res, fmt.Errorf("%w: %w", ErrNotFinished, err)
	}
	return res, nil
}

// readStatus parses "suite status" lines.
func readStatus(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	status := make(map[string]int)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("parse %s line %d %q: want \"suite status\"", path, n, sc.Text())
		}
		st, err := strconv.Atoi(fields[1])
		if err != nil {
			return nil, fmt.Errorf("parse %s line %d %q: %w", path, n, sc.Text(), err)
		}
		status[fields[0]] = st
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return status, nil
}
