package switches

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"procfsd/statedir"
)

// dockerID extracts a Docker container ID from a container's cgroup path: the last element,
// "<64 hex>" (cgroupfs driver: /docker/<id>; Kubernetes with dockershim: /kubepods/.../<id>)
// or "docker-<64 hex>.scope" (systemd driver). Docker labels are not OCI annotations, so the
// opt-out label is read from the engine's metadata by this ID (docs/behaviour.md §3).
func dockerID(cgroupPath string) (string, bool) {
	base := path.Base(cgroupPath)
	if s, ok := strings.CutPrefix(base, "docker-"); ok {
		base = strings.TrimSuffix(s, ".scope")
	}
	if len(base) != 64 || !IsHex(base) {
		return "", false
	}
	return base, true
}

// dockerConfig is the part of <docker data root>/containers/<id>/config.v2.json read here.
type dockerConfig struct {
	ID     string `json:"ID"`
	Config struct {
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
}

// errNotDocker means the engine has no metadata for the ID: not a Docker container.
var errNotDocker = errors.New("no Docker metadata")

// dockerSwitch reads the opt-out label of Docker container id under dataRoot. set is false
// when the container has no such label (or an unrecognised value); errNotDocker when the
// engine does not know the ID.
func dockerSwitch(dataRoot, id string) (isolated, set bool, err error) {
	p := filepath.Join(dataRoot, "containers", id, "config.v2.json")
	b, err := statedir.ReadRegular(p, statedir.MaxDockerConfig)
	if errors.Is(err, os.ErrNotExist) {
		return true, false, fmt.Errorf("read %s: %w", p, errNotDocker)
	}
	if err != nil {
		return true, false, err
	}
	return parseDockerConfig(b, id)
}

// parseDockerConfig decodes config.v2.json and reads the label; the ID in the file must be
// the one asked for, so a stray file cannot opt another container out.
func parseDockerConfig(b []byte, id string) (isolated, set bool, err error) {
	var c dockerConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return true, false, fmt.Errorf("parse config.v2.json of %s: %w", id, err)
	}
	if c.ID != id {
		return true, false, fmt.Errorf("parse config.v2.json of %s: it describes %q", id, c.ID)
	}
	on, ok := Annotation(c.Config.Labels[OptOutKey])
	return on, ok, nil
}

// Annotation reads the opt-out annotation or label: "0"/"false" opt out, "1"/"true" opt in
// (docs/behaviour.md §3). ok is false for a missing or unrecognised value, which leaves the
// default.
func Annotation(v string) (isolated, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "0", "false":
		return false, true
	case "1", "true":
		return true, true
	}
	return true, false
}
