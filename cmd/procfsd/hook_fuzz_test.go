package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readSeed(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata/oci", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseHookInput(t *testing.T) {
	st, err := parseState(readSeed(t, "podman-state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != "52d6b309da0e513309895bae496576fcff22573dee87d4dd1bf5309c6199463f" || st.Pid != 1 {
		t.Errorf("state: %+v", st)
	}
	c, err := parseConfig(st, readSeed(t, "podman-config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(c.Rootfs, "/merged") || c.Annotations["procfsd.io/container-stats-isolated"] != "0" {
		t.Errorf("config: rootfs %s, annotations %v", c.Rootfs, c.Annotations)
	}
	c, err = parseConfig(st, readSeed(t, "relative-root-config.json"))
	if err != nil {
		t.Fatal(err)
	}
	// root.path is relative to the bundle; the config's annotation wins over the state's.
	if c.Rootfs != filepath.Join(st.Bundle, "rootfs") || c.Annotations["procfsd.io/container-stats-isolated"] != "1" {
		t.Errorf("relative root: rootfs %s, annotations %v", c.Rootfs, c.Annotations)
	}
	for _, bad := range []string{``, `{`, `[]`, `{"id":""}`, `{"id":"x"}`, `{"id":"x","bundle":"rel/dir"}`, `{"id":"x","bundle":7}`} {
		if st, err := parseState([]byte(bad)); err == nil {
			t.Errorf("parseState(%q) = %+v, want an error", bad, st)
		}
	}
	for _, bad := range []string{``, `{}`, `{"root":{}}`, `{"root":{"path":""}}`, `{"root":"x"}`} {
		if c, err := parseConfig(st, []byte(bad)); err == nil {
			t.Errorf("parseConfig(%q) = %+v, want an error", bad, c)
		}
	}
}

// FuzzParseState: an OCI state either parses into an ID and an absolute bundle, or is an
// error with nothing returned.
func FuzzParseState(f *testing.F) {
	f.Add(readSeed(f, "podman-state.json"))
	f.Add([]byte(`{"ociVersion":"1.0.2","id":"a","status":"creating","pid":1,"bundle":"/b"}`))
	f.Add([]byte(`{"id":"a","bundle":"/b","annotations":{"procfsd.io/container-stats-isolated":"0"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseState(b)
		if (err == nil) == (st == nil) {
			t.Fatalf("parseState: state %v with error %v", st, err)
		}
		if err == nil && (st.ID == "" || !filepath.IsAbs(st.Bundle)) {
			t.Fatalf("parseState accepted id %q bundle %q", st.ID, st.Bundle)
		}
	})
}

// FuzzParseConfig: a config either gives a clean absolute rootfs other than / and the
// annotations, or is an error with nothing returned.
func FuzzParseConfig(f *testing.F) {
	f.Add(readSeed(f, "podman-config.json"))
	f.Add(readSeed(f, "relative-root-config.json"))
	f.Add([]byte(`{"root":{"path":"../../x"},"annotations":{"a":"b"}}`))
	f.Add([]byte(`{"root":{"path":"../../../.."}}`))
	st, err := parseState(readSeed(f, "podman-state.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseConfig(st, b)
		if (err == nil) == (c == nil) {
			t.Fatalf("parseConfig: %v with error %v", c, err)
		}
		if err == nil && (!filepath.IsAbs(c.Rootfs) || filepath.Clean(c.Rootfs) != c.Rootfs || c.Rootfs == "/" || c.ID != st.ID) {
			t.Fatalf("parseConfig gave rootfs %q id %q", c.Rootfs, c.ID)
		}
	})
}
