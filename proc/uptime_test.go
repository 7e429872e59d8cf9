package proc

import (
	"bytes"
	"math"
	"testing"
)

func TestRenderUptime(t *testing.T) {
	tests := []struct {
		name     string
		up, idle float64
		want     string
	}{
		{name: "two decimals", up: 3600.5, idle: 5400.754, want: "3600.50 5400.75\n"},
		{name: "new container", up: 0.031, idle: 0.06, want: "0.03 0.06\n"},
		{name: "negative and NaN as 0", up: -1, idle: math.NaN(), want: "0.00 0.00\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w bytes.Buffer
			RenderUptime(&w, tt.up, tt.idle)
			if w.String() != tt.want {
				t.Errorf("got %q, want %q", w.String(), tt.want)
			}
		})
	}
}
