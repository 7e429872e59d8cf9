package switches

import (
	"testing"
)

// FuzzParseSwitch: exactly "0" and "1", each with an optional newline, are accepted
// (docs/behaviour.md §3); everything else is ErrBadValue.
func FuzzParseSwitch(f *testing.F) {
	for _, s := range []string{"0", "1", "0\n", "1\n", "", "\n", "2", "01", "1 ", " 1", "1\n\n", "0\n1", "-1", "true"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		on, err := ParseSwitch(b)
		switch string(b) {
		case "1", "1\n":
			if err != nil || !on {
				t.Fatalf("ParseSwitch(%q) = %v, %v", b, on, err)
			}
		case "0", "0\n":
			if err != nil || on {
				t.Fatalf("ParseSwitch(%q) = %v, %v", b, on, err)
			}
		default:
			if err == nil {
				t.Fatalf("ParseSwitch(%q) accepted: %v", b, on)
			}
		}
	})
}

// FuzzParseStateFile: a state file is used whole or not at all: an error returns nothing, and
// a success has only cgroup-path IDs and known sources.
func FuzzParseStateFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"stats_isolated":true,"containers":[{"id":"/a","container_stats_isolated":false,"source":"write"}]}`))
	f.Add([]byte(`{"version":1,"stats_isolated":false,"containers":null}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"containers":[{"id":"a","source":"ctl"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseState(b)
		if (err == nil) == (st == nil) {
			t.Fatalf("parseState: %v with error %v", st, err)
		}
		if err != nil {
			return
		}
		for _, e := range st.Containers {
			if e.ID == "" || e.ID[0] != '/' {
				t.Fatalf("accepted ID %q", e.ID)
			}
			switch e.Source {
			case SourceDefault, SourceAnnotation, SourceLabel, SourceWrite, SourceCtl:
			default:
				t.Fatalf("accepted source %q", e.Source)
			}
		}
	})
}

func TestParseSwitch(t *testing.T) {
	tests := []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{"0", false, false}, {"1", true, false}, {"0\n", false, false}, {"1\n", true, false},
		{"", false, true}, {"2", false, true}, {"01", false, true}, {"1\n\n", false, true},
		{" 1", false, true}, {"true", false, true}, {"1 ", false, true},
	}
	for _, tt := range tests {
		got, err := ParseSwitch([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseSwitch(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
