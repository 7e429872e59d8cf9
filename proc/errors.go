package proc

import (
	"errors"
	"fmt"
)

// errMalformed is the cause of every parse error: the host file does not have the shape the
// kernel gives it, so the caller should serve the host file unchanged (docs/behaviour.md §4).
var errMalformed = errors.New("malformed")

// lineError wraps a parse failure as "parse <file> line <n> <quoted line>: <cause>", which names
// the file and the line a reader can look for.
func lineError(file string, n int, line []byte, cause string) error {
	const maxQuoted = 80 // keep a binary or huge line from flooding the log
	if len(line) > maxQuoted {
		line = line[:maxQuoted]
	}
	return fmt.Errorf("parse %s line %d %q: %s: %w", file, n, line, cause, errMalformed)
}
