package vm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// guestSuite is the Debian release the guest is built from (mkrootfs.sh says the same).
const guestSuite = "bookworm"

// HostMirror is the Debian archive this machine's apt uses for guestSuite: the first source,
// deb822 .sources files first, then one-line .list entries, whose suites include guestSuite and
// whose URI is not the security archive. Without one it is [DefaultMirror]. A CI machine that
// reaches only its own mirror then builds the guest from that mirror too, as scripts/rootfs.sh
// does for the e2e tree.
func HostMirror(aptDir string) string {
	var sources [][2]string // {uri, suites}
	files, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", "*.sources"))
	for _, f := range files {
		sources = append(sources, deb822Sources(f)...)
	}
	files, _ = filepath.Glob(filepath.Join(aptDir, "sources.list.d", "*.list"))
	for _, f := range append([]string{filepath.Join(aptDir, "sources.list")}, files...) {
		sources = append(sources, oneLineSources(f)...)
	}
	for _, s := range sources {
		uri, suites := s[0], strings.Fields(s[1])
		security := strings.Contains(uri, "security")
		if strings.HasPrefix(uri, "http") && !security && slices.Contains(suites, guestSuite) {
			return strings.TrimSuffix(uri, "/")
		}
	}
	return DefaultMirror
}

// deb822Sources returns {first URI, Suites} of each stanza of a deb822 .sources file.
func deb822Sources(path string) [][2]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out [][2]string
	for _, stanza := range strings.Split(string(b), "\n\n") {
		var uri, suites string
		for _, line := range strings.Split(stanza, "\n") {
			key, value, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(key) {
			case "URIs":
				if f := strings.Fields(value); len(f) > 0 {
					uri = f[0]
				}
			case "Suites":
				suites = value
			}
		}
		if uri != "" {
			out = append(out, [2]string{uri, suites})
		}
	}
	return out
}

// oneLineSources returns {URI, suite} of each "deb [options] URI SUITE COMPONENTS..." line.
func oneLineSources(path string) [][2]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out [][2]string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if len(f) > 0 && strings.HasPrefix(f[0], "[") {
			end := slices.IndexFunc(f, func(s string) bool { return strings.HasSuffix(s, "]") })
			f = f[end+1:]
		}
		if len(f) >= 2 {
			out = append(out, [2]string{f[0], f[1]})
		}
	}
	return out
}
