package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// maxHookInput bounds what the hook reads from stdin and config.json: an OCI state is a few
// hundred bytes and a config a few tens of kilobytes.
const maxHookInput = 4 << 20

// hookContainer is what the hook needs from the OCI state and the bundle's config.json.
type hookContainer struct {
	ID          string
	Bundle      string
	Rootfs      string // absolute
	Annotations map[string]string
}

var errBadState = errors.New("bad OCI state")

// parseState decodes the OCI state a runtime writes to a hook's stdin (runtime-spec
// runtime.md "State"). The ID and an absolute bundle path are required.
func parseState(b []byte) (*specs.State, error) {
	var st specs.State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w on stdin: %w", errBadState, err)
	}
	if st.ID == "" {
		return nil, fmt.Errorf("%w on stdin: no container id", errBadState)
	}
	if st.Bundle == "" || !filepath.IsAbs(st.Bundle) {
		return nil, fmt.Errorf("%w on stdin: bundle %q is not an absolute path", errBadState, st.Bundle)
	}
	return &st, nil
}

// parseConfig decodes the bundle's config.json into the container the hook works on. The
// annotations are the config's (runtime-spec config.md), with the state's filling gaps; root.path
// is relative to the bundle unless absolute. A relative root.path must stay inside the bundle
// ("../../.." would make the host's / the rootfs), and no root.path may name / itself.
func parseConfig(st *specs.State, b []byte) (*hookContainer, error) {
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("parse %s/config.json: %w", st.Bundle, err)
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return nil, fmt.Errorf("parse %s/config.json: no root.path", st.Bundle)
	}
	c := &hookContainer{ID: st.ID, Bundle: st.Bundle, Rootfs: spec.Root.Path, Annotations: map[string]string{}}
	if !filepath.IsAbs(c.Rootfs) {
		c.Rootfs = filepath.Join(st.Bundle, c.Rootfs)
		if !inside(filepath.Clean(st.Bundle), c.Rootfs) {
			return nil, fmt.Errorf("parse %s/config.json: root.path %q leaves the bundle", st.Bundle, spec.Root.Path)
		}
	}
	c.Rootfs = filepath.Clean(c.Rootfs)
	if c.Rootfs == "/" {
		return nil, fmt.Errorf("parse %s/config.json: root.path %q is the host's /", st.Bundle, spec.Root.Path)
	}
	for k, v := range st.Annotations {
		c.Annotations[k] = v
	}
	for k, v := range spec.Annotations {
		c.Annotations[k] = v
	}
	return c, nil
}

// inside reports whether the clean path p is dir or lies under it, lexically.
func inside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
