// Package testenv lets a test that needs root, /dev/fuse or live cgroups skip, with its reason,
// on a machine that lacks them, so that `go test ./...` passes as an ordinary user; where
// PROCFSD_REQUIRE_PRIVILEGED=1 (make test and CI set it) the same test fails instead, so a
// privileged run can never pass by skipping.
package testenv

import (
	"os"
	"testing"
)

// RequireEnv is the environment variable that turns a skip into a failure.
const RequireEnv = "PROCFSD_REQUIRE_PRIVILEGED"

// Require skips the test with reason unless ok, or fails it where RequireEnv is set.
func Require(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s, and %s=1", reason, RequireEnv)
	}
	t.Skip(reason)
}

// RequireRoot needs uid 0: mounting, other users' credentials, cgroups.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "needs root")
}

// RequireFUSE needs root and an openable /dev/fuse.
func RequireFUSE(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err == nil {
		f.Close()
	}
	Require(t, err == nil, "needs /dev/fuse")
}
