package main

import (
	"slices"
	"strings"
	"testing"
)

func TestWithoutSupervise(t *testing.T) {
	in := []string{"--mountpoint", "/m", "--supervise", "-supervise=true", "--state-dir", "/s", "--log-level=info"}
	want := []string{"--mountpoint", "/m", "--state-dir", "/s", "--log-level=info"}
	if got := withoutSupervise(in); !slices.Equal(got, want) {
		t.Errorf("withoutSupervise(%q) = %q, want %q", in, got, want)
	}
}

func TestHandoverEnv(t *testing.T) {
	t.Setenv(envGeneration, "4")
	in := []string{"PATH=/bin", "LISTEN_FDS=2", "LISTEN_PID=1", "LISTEN_FDNAMES=a:b", envFuseFD + "=9",
		envHandoverFD + "=10", envGeneration + "=4", envSupervised + "=1", "NOTIFY_SOCKET=/run/n"}
	got := handoverEnv(in, 5, 6)
	want := []string{"PATH=/bin", envSupervised + "=1", "NOTIFY_SOCKET=/run/n",
		envFuseFD + "=5", envHandoverFD + "=6", envGeneration + "=5"}
	if !slices.Equal(got, want) {
		t.Errorf("handoverEnv:\n got  %s\n want %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	if in[1] != "LISTEN_FDS=2" {
		t.Errorf("handoverEnv changed its input")
	}
}
