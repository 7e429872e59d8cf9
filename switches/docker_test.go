package switches

import (
	"errors"
	"testing"

	"go.uber.org/zap/zaptest"

	"procfsd/cgroupview"
)

const (
	dockerOptOut0     = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	dockerOptOutFalse = "b1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	dockerNoLabel     = "c1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	dockerOptIn       = "d1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	dockerWrongID     = "e1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	dockerTruncated   = "f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	dockerUnknown     = "0000000000000000000000000000000000000000000000000000000000000000"
	dockerFixture     = "../testdata/docker"
)

func TestDockerID(t *testing.T) {
	for _, tt := range []struct {
		path string
		want string
	}{
		{"/docker/" + dockerOptOut0, dockerOptOut0},
		{"/system.slice/docker-" + dockerOptOut0 + ".scope", dockerOptOut0},
		{"/kubepods/burstable/pod1234/" + dockerOptOut0, dockerOptOut0},
		{"/libpod_parent/libpod-" + dockerOptOut0, ""},
		{"/docker/" + dockerOptOut0[:63], ""},
		{"/docker/" + dockerOptOut0 + "0", ""},
		{"/docker/" + "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90", ""},
		{"/", ""},
	} {
		got, ok := dockerID(tt.path)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("dockerID(%q) = %q, %v; want %q", tt.path, got, ok, tt.want)
		}
	}
}

// TestDockerSwitch reads the opt-out label from config.v2.json fixtures (testdata/docker/README.md).
func TestDockerSwitch(t *testing.T) {
	for _, tt := range []struct {
		name, id      string
		isolated, set bool
		wantErr       error
		anyErr        bool
	}{
		{name: "label 0", id: dockerOptOut0, isolated: false, set: true},
		{name: "label false", id: dockerOptOutFalse, isolated: false, set: true},
		{name: "no labels", id: dockerNoLabel, isolated: true, set: false},
		{name: "label 1", id: dockerOptIn, isolated: true, set: true},
		{name: "file names another container", id: dockerWrongID, isolated: true, anyErr: true},
		{name: "truncated", id: dockerTruncated, isolated: true, anyErr: true},
		{name: "unknown to the engine", id: dockerUnknown, isolated: true, wantErr: errNotDocker},
	} {
		t.Run(tt.name, func(t *testing.T) {
			on, set, err := dockerSwitch(dockerFixture, tt.id)
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			case tt.anyErr && err == nil:
				t.Fatalf("err = nil, want an error")
			case tt.wantErr == nil && !tt.anyErr && err != nil:
				t.Fatalf("err = %v", err)
			}
			if on != tt.isolated || set != tt.set {
				t.Errorf("isolated, set = %v, %v; want %v, %v", on, set, tt.isolated, tt.set)
			}
		})
	}
}

// TestDockerLabelOnFirstSight: the first read of a Docker container takes its switch from the
// label and records where it came from; a container without the label keeps the default.
func TestDockerLabelOnFirstSight(t *testing.T) {
	srv := openForTest(t, Config{ProcRoot: "../testdata/hosts/debian12-2cpu/proc", CgroupRoot: "../testdata/cgroup/v1-docker",
		DockerRoot: dockerFixture, StatsIsolated: true, Logger: zaptest.NewLogger(t)})
	for _, tt := range []struct {
		id       string
		isolated bool
		source   string
	}{
		{"/docker/" + dockerOptOut0, false, SourceLabel},
		{"/system.slice/docker-" + dockerOptOutFalse + ".scope", false, SourceLabel},
		{"/docker/" + dockerNoLabel, true, SourceDefault},
		{"/docker/" + dockerWrongID, true, SourceDefault},
		{"/docker/" + dockerUnknown, true, SourceDefault},
		{"/other/ctr", true, SourceDefault},
	} {
		c := &cgroupview.Container{ID: tt.id, Paths: map[string]string{"memory": tt.id}}
		if got := srv.Isolated(c); got != tt.isolated {
			t.Errorf("%s: isolated = %v, want %v", tt.id, got, tt.isolated)
		}
		e := srv.table.get(tt.id)
		if e == nil || e.Source != tt.source || e.Isolated != tt.isolated {
			t.Errorf("%s: entry %+v, want source %s", tt.id, e, tt.source)
		}
	}
	// A later write wins over the label.
	c := &cgroupview.Container{ID: "/docker/" + dockerOptOut0, Paths: map[string]string{"memory": "/docker/" + dockerOptOut0}}
	if _, err := srv.SetContainer(c, true, SourceWrite); err != nil {
		t.Fatal(err)
	}
	if !srv.Isolated(c) {
		t.Errorf("after a write of 1 the labelled container is still not isolated")
	}
}
