package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// report is everything one run measured.
type report struct {
	date        time.Time
	machine     string
	quick       bool
	pin         string // the -pin CPU list, "" when unpinned
	goReader    bool   // -go-reader
	procfsdArgs string // -procfsd-args
	cells       []readerResult
	rss         []rssLine
	scale       []scaleResult
}

type rssLine struct {
	name string
	kib  uint64
}

func (r *report) cell(target, file string, par int) *readerResult {
	for i := range r.cells {
		c := &r.cells[i]
		if c.Target == target && c.File == file && c.Par == par {
			return c
		}
	}
	return nil
}

// fileTable writes a Markdown table with a row per benchmark file: the file's name, then the
// cells row returns, one per column.
func fileTable(b *strings.Builder, columns []string, row func(file string) []string) {
	b.WriteString("| file | " + strings.Join(columns, " | ") + " |\n|---|" + strings.Repeat("---:|", len(columns)) + "\n")
	for _, f := range benchFiles {
		b.WriteString("| " + f + " | " + strings.Join(row(f), " | ") + " |\n")
	}
}

// hasTarget reports whether the run measured target.
func (r *report) hasTarget(target string) bool {
	for _, c := range r.cells {
		if c.Target == target {
			return true
		}
	}
	return false
}

// ratio formats a/b, or "–" when either is missing.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func num(v float64, format string) string {
	if v <= 0 {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

// tables renders the report as Markdown tables (the terminal gets the same text).
func (r *report) tables() string {
	if len(r.cells) == 0 { // -scale-only
		if len(r.scale) == 0 {
			return ""
		}
		return scaleTable(r.scale)
	}
	var b strings.Builder
	get := func(t, f string, par int) (p50, p99, thr float64) {
		c := r.cell(t, f, par)
		if c == nil || c.Errors > 0 {
			return 0, 0, 0
		}
		return c.P50, c.P99, float64(c.Ops) / c.WallSec
	}
	b.WriteString("### Latency, 1 reader (open-read-close, µs)\n\n")
	fileTable(&b, []string{"native p50", "FUSE floor p50", "procfsd p50", "LXCFS p50", "**LXCFS/procfsd p50**",
		"**procfsd/floor p50**", "procfsd p99", "LXCFS p99"}, func(f string) []string {
		n50, _, _ := get("native", f, 1)
		f50, _, _ := get("floor", f, 1)
		p50, p99, _ := get("procfsd", f, 1)
		l50, l99, _ := get("lxcfs", f, 1)
		return []string{num(n50, "%.1f"), num(f50, "%.1f"), num(p50, "%.1f"), num(l50, "%.1f"), ratio(l50, p50),
			ratio(p50, f50), num(p99, "%.1f"), num(l99, "%.1f")}
	})
	b.WriteString("\n### 8 readers (throughput in reads/s, p99 in µs)\n\n")
	fileTable(&b, []string{"native reads/s", "floor reads/s", "procfsd reads/s", "LXCFS reads/s", "**procfsd/LXCFS reads/s**",
		"floor p99", "procfsd p99", "LXCFS p99", "**procfsd p99 / LXCFS p99**"}, func(f string) []string {
		_, _, nt := get("native", f, 8)
		_, f99, ft := get("floor", f, 8)
		_, p99, pt := get("procfsd", f, 8)
		_, l99, lt := get("lxcfs", f, 8)
		return []string{num(nt, "%.0f"), num(ft, "%.0f"), num(pt, "%.0f"), num(lt, "%.0f"), ratio(pt, lt),
			num(f99, "%.1f"), num(p99, "%.1f"), num(l99, "%.1f"), ratio(p99, l99)}
	})
	if r.hasTarget("uring-floor") {
		b.WriteString("\n### FUSE over io_uring: the floor through each transport (µs, reads/s)\n\n")
		fileTable(&b, []string{"floor p50", "**io_uring floor p50**", "procfsd p50", "floor reads/s, 8 readers",
			"**io_uring floor reads/s**", "floor p99, 8 readers", "**io_uring floor p99**"}, func(f string) []string {
			f50, _, _ := get("floor", f, 1)
			u50, _, _ := get("uring-floor", f, 1)
			p50, _, _ := get("procfsd", f, 1)
			_, f99, ft := get("floor", f, 8)
			_, u99, ut := get("uring-floor", f, 8)
			return []string{num(f50, "%.1f"), num(u50, "%.1f"), num(p50, "%.1f"), num(ft, "%.0f"), num(ut, "%.0f"),
				num(f99, "%.1f"), num(u99, "%.1f")}
		})
	}
	fmt.Fprintf(&b, "\n### Daemons over the latency run\n\n")
	fmt.Fprintf(&b, "| daemon | reads | CPU time | **CPU s per 10,000 reads** | RSS after |\n|---|---:|---:|---:|---:|\n")
	perTenK := map[string]float64{}
	for _, d := range r.rss {
		var ops int
		var ticks uint64
		for _, c := range r.cells {
			if c.Target == d.name {
				ops += c.Ops
				ticks += c.CPUTicks
			}
		}
		if ops > 0 {
			perTenK[d.name] = float64(ticks) / 100 / float64(ops) * 10000
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f s | %.3f | %.1f MiB |\n", d.name, ops, float64(ticks)/100, perTenK[d.name], float64(d.kib)/1024)
	}
	fmt.Fprintf(&b, "\nLXCFS/procfsd CPU per read: **%s**\n", ratio(perTenK["lxcfs"], perTenK["procfsd"]))
	if len(r.scale) > 0 {
		b.WriteString(scaleTable(r.scale))
	}
	return b.String()
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s\n%s (pinned: %q, Go reader: %v, procfsd args: %q)\n\n%s", r.date.Format(time.RFC3339), r.machine, r.pin, r.goReader, r.procfsdArgs, r.tables())
}

// writeMarkdown writes the figures into path between markers, keeping whatever prose the file
// has around them, or creates the file.
func (r *report) writeMarkdown(path string) error {
	const begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
	machine := r.machine
	if r.pin != "" {
		machine += fmt.Sprintf("; every daemon and the reader pinned to CPU %s (-pin)", r.pin)
	}
	if r.goReader {
		machine += "; the reader used Go's system call wrappers (-go-reader)"
	}
	if r.procfsdArgs != "" {
		machine += fmt.Sprintf("; procfsd serve ran with `%s`", r.procfsdArgs)
	}
	body := fmt.Sprintf("%s\nRun of `make bench` on %s.\nMachine: %s.\n\n%s%s\n", begin,
		r.date.Format("2006-01-02 15:04 UTC"), machine, r.tables(), end)
	old, err := os.ReadFile(path)
	var out string
	switch {
	case err == nil && strings.Contains(string(old), begin) && strings.Contains(string(old), end):
		s := string(old)
		rest := strings.TrimPrefix(s[strings.Index(s, end)+len(end):], "\n")
		out = s[:strings.Index(s, begin)] + body + rest
	default:
		out = "# Benchmarks\n\n" + body
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s\n", path)
	return nil
}
