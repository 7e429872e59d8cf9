package vm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadResults(t *testing.T) {
	suites := []string{"boot", "v2", "e2e"}
	tests := []struct {
		name    string
		files   map[string]string // under out/
		want    []Result
		wantErr string
		notDone bool
	}{
		{
			name: "all reported",
			files: map[string]string{
				"results": "boot 0\nv2 1\ne2e 0\n", "boot.log": "ok: PID 1 = systemd\n",
				"v2.log": "FAIL: MemTotal\n", "done": "",
			},
			want: []Result{
				{Suite: "boot", Status: 0, Log: "ok: PID 1 = systemd\n"},
				{Suite: "v2", Status: 1, Log: "FAIL: MemTotal\n"},
				{Suite: "e2e", Status: 0},
			},
		},
		{
			name:  "guest hung in the second suite",
			files: map[string]string{"results": "boot 0\n", "v2.log": "ok: mounted\n"},
			want: []Result{
				{Suite: "boot", Status: 0},
				{Suite: "v2", Status: -1, Log: "ok: mounted\n"},
				{Suite: "e2e", Status: -1},
			},
			notDone: true,
		},
		{
			name:  "runner never started",
			files: map[string]string{},
			want: []Result{
				{Suite: "boot", Status: -1}, {Suite: "v2", Status: -1}, {Suite: "e2e", Status: -1},
			},
			notDone: true,
		},
		{
			name:    "garbled status line",
			files:   map[string]string{"results": "boot 0\nv2 one\n", "done": ""},
			wantErr: `line 2 "v2 one"`,
		},
		{
			name:    "missing status",
			files:   map[string]string{"results": "boot\n", "done": ""},
			wantErr: `line 1 "boot": want "suite status"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			share := t.TempDir()
			out := filepath.Join(share, "out")
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(out, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadResults(share, suites)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadResults error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if errors.Is(err, ErrNotFinished) != tt.notDone {
				t.Errorf("ReadResults error = %v, want ErrNotFinished: %v", err, tt.notDone)
			}
			if err != nil && !errors.Is(err, ErrNotFinished) {
				t.Errorf("ReadResults: unexpected error %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadResults (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteSuites(t *testing.T) {
	share := t.TempDir()
	if err := WriteSuites(share, []string{"boot", "e2e"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(share, "suites"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("boot\ne2e\n", string(got)); diff != "" {
		t.Errorf("suites file (-want +got):\n%s", diff)
	}
}
