package proc

import (
	"bytes"
	"testing"
)

func TestRenderOnline(t *testing.T) {
	tests := []struct {
		name string
		in   int
		want string
	}{
		{name: "one", in: 1, want: "0\n"},
		{name: "two", in: 2, want: "0-1\n"},
		{name: "many", in: 128, want: "0-127\n"},
		{name: "zero counts as one", in: 0, want: "0\n"},
		{name: "negative counts as one", in: -4, want: "0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := bytes.NewBufferString("p")
			RenderOnline(w, tt.in)
			if got := w.String(); got != "p"+tt.want {
				t.Errorf("RenderOnline(%d) = %q, want %q", tt.in, got, "p"+tt.want)
			}
		})
	}
}
