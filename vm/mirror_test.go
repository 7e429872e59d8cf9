package vm

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHostMirror(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // relative to the apt directory
		want  string
	}{
		{
			name: "deb822 with security and a third-party source",
			files: map[string]string{
				"sources.list.d/debian.sources": "Types: deb\nURIs: http://mirror.example/debian/\n" +
					"Suites: bookworm bookworm-updates\nComponents: main\n\n" +
					"Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n",
				"sources.list.d/nodesource.sources": "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n",
				"sources.list.d/google.list":        "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n",
			},
			want: "http://mirror.example/debian",
		},
		{
			name: "one-line with options",
			files: map[string]string{
				"sources.list": "# comment\ndeb http://security.debian.org/debian-security bookworm-security main\n" +
					"deb [arch=amd64 signed-by=/k.gpg] http://local/debian bookworm main\n",
			},
			want: "http://local/debian",
		},
		{
			name:  "another release only",
			files: map[string]string{"sources.list": "deb http://local/debian trixie main\n"},
			want:  DefaultMirror,
		},
		{name: "no apt configuration", want: DefaultMirror},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.files {
				path := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := HostMirror(dir); got != tt.want {
				t.Errorf("HostMirror = %q, want %q", got, tt.want)
			}
		})
	}
}
