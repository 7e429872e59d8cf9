package main

import (
	"strconv"
	"strings"
)

func splitLines(s string) []string { return strings.Split(s, "\n") }

// cutKey returns the value of a "key : value" line.
func cutKey(line, key string) (string, bool) {
	k, v, ok := strings.Cut(line, ":")
	if !ok || strings.TrimSpace(k) != key {
		return "", false
	}
	return strings.TrimSpace(v), true
}

// countCPUs counts a cpu list such as "0-3,5".
func countCPUs(list string) int {
	n := 0
	for _, r := range strings.Split(strings.TrimSpace(list), ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		n += b - a + 1
	}
	return n
}

func cstr(b []int8) string {
	var s strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		s.WriteByte(byte(c))
	}
	return s.String()
}

// filePath fills a target's path template; the floor's has no %s (one file serves for all).
func filePath(tmpl, file string) string {
	if strings.Contains(tmpl, "%s") {
		return strings.Replace(tmpl, "%s", file, 1)
	}
	return tmpl
}
