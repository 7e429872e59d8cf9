package proc

import (
	"bytes"
	"testing"
	"time"

	"procfsd/cgroupview"
)

// Benchmarks of the renderers on the fixture hosts (a handful of allocations per rendered file at
// most: docs/read-path.md). w is reused as the server reuses nothing: each iteration starts from an
// empty buffer of the final size, so the figures are the renderer's own allocations.
func benchRender(b *testing.B, render func(w *bytes.Buffer) error) {
	var w bytes.Buffer
	if err := render(&w); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		if err := render(&w); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderSwaps(b *testing.B) {
	swaps, meminfo := hostFile(b, largeHost, "swaps"), hostFile(b, largeHost, "meminfo")
	m := v2Memory(2*gib, 300*mib)
	benchRender(b, func(w *bytes.Buffer) error { return RenderSwaps(w, swaps, meminfo, m) })
}

func BenchmarkRenderUptime(b *testing.B) {
	benchRender(b, func(w *bytes.Buffer) error { RenderUptime(w, 12345.67, 23456.78); return nil })
}

func BenchmarkRenderLoadavg(b *testing.B) {
	l := NewLoadavg(3, 5*time.Second)
	t := cgroupview.Tasks{Running: 2, Blocked: 1, Total: 40, LastPID: 77}
	benchRender(b, func(w *bytes.Buffer) error { RenderLoadavg(w, l, t); return nil })
}

func BenchmarkRenderOnline(b *testing.B) {
	benchRender(b, func(w *bytes.Buffer) error { RenderOnline(w, 4); return nil })
}
