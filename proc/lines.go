package proc

import (
	"bytes"
	"math"
	"strconv"
)

// Key/value kernel files (/proc/meminfo, /proc/vmstat) are rewritten in place rather than parsed
// into a struct: a struct (prometheus/procfs's Meminfo) drops the lines it does not know, while a
// container must see exactly the host's line set, order and spacing (docs/behaviour.md §2.2). The
// rewriter walks the host bytes once, appends each line to the output and replaces only the number
// of the lines the caller owns. It allocates nothing per line.

// kvLine locates the parts of one "Key:   123 kB" (meminfo) or "key 123" (vmstat) line.
type kvLine struct {
	key              []byte // label without the colon
	valStart, valEnd int    // the decimal value is line[valStart:valEnd]
	val              uint64
}

// nextLine splits b after its first '\n'. line keeps the newline, so a host file whose last line
// has none is reproduced byte for byte.
func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i+1], b[i+1:]
	}
	return b, nil
}

// parseKV parses one line without its newline. cause is empty on success.
func parseKV(line []byte) (kv kvLine, cause string) {
	// A byte loop, not bytes.IndexAny, which builds its set on every call: parseKV runs once per
	// line of meminfo and vmstat, and IndexAny's set building would dominate rendering vmstat.
	end := 0
	for end < len(line) && line[end] != ':' && line[end] != ' ' && line[end] != '\t' {
		end++
	}
	if end == len(line) {
		end = -1
	}
	if end <= 0 {
		return kv, "no key"
	}
	kv.key = line[:end]
	i := end
	if line[i] == ':' {
		i++
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	kv.valStart = i
	for ; i < len(line) && line[i] >= '0' && line[i] <= '9'; i++ {
		d := uint64(line[i] - '0')
		if kv.val > (math.MaxUint64-d)/10 {
			return kv, "value out of range"
		}
		kv.val = kv.val*10 + d
	}
	kv.valEnd = i
	if kv.valEnd == kv.valStart {
		return kv, "no value"
	}
	if i < len(line) && line[i] != ' ' && line[i] != '\t' {
		return kv, "junk after value"
	}
	return kv, ""
}

// kvRewrite returns the new value of a line, in the file's unit, or false to keep the host line.
// host is the line's value as the host file has it.
type kvRewrite func(key []byte, host uint64) (uint64, bool)

// rewriteKV appends host to w with the values chosen by f. width is the kernel's minimum width
// of the value field (8 for meminfo's show_val_kb, 0 for vmstat's "%s %lu"). On error w is left
// as it was.
func rewriteKV(w *bytes.Buffer, host []byte, file string, width int, f kvRewrite) error {
	start := w.Len()
	w.Grow(len(host) + len(host)/8)
	for n, rest := 1, host; len(rest) > 0; n++ {
		var line []byte
		line, rest = nextLine(rest)
		body := bytes.TrimSuffix(line, []byte{'\n'})
		if len(body) == 0 {
			w.Write(line)
			continue
		}
		kv, cause := parseKV(body)
		if cause != "" {
			w.Truncate(start)
			return lineError(file, n, body, cause)
		}
		v, ok := f(kv.key, kv.val)
		if !ok {
			w.Write(line)
			continue
		}
		writeValue(w, body, kv, v, width)
		w.Write(line[len(body):])
	}
	return nil
}

// writeValue writes body with its value replaced by v. The kernel prints a label padded to a
// fixed width followed by the value right-aligned in `width` columns (fs/proc/meminfo.c:
// show_val_kb → seq_put_decimal_ull_width(m, "MemTotal:       ", v, 8)). The label's end is
// recovered from the host line: it is where the value field starts, which is valEnd−width for a
// short host value and valStart for one wider than the field. That reproduces the kernel's bytes
// whatever the length of the old and the new number.
func writeValue(w *bytes.Buffer, body []byte, kv kvLine, v uint64, width int) {
	labelEnd := max(min(kv.valStart, kv.valEnd-width), len(kv.key)+1)
	w.Write(body[:labelEnd])
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], v, 10)
	pad := width - len(d)
	if c := body[labelEnd-1]; pad <= 0 && c != ' ' && c != '\t' {
		pad = 1 // a hand-made "Key:12" never comes out glued to its label
	}
	for ; pad > 0; pad-- {
		w.WriteByte(' ')
	}
	w.Write(d)
	w.Write(body[kv.valEnd:])
}

// HostValue returns the value of key in a "Key:   value kB" file such as /proc/meminfo, in bytes
// when the unit is kB and as printed otherwise, or in a "key value" file such as /proc/stat or
// /proc/vmstat. It is false when the key is absent or its line does not parse.
func HostValue(file []byte, key string) (uint64, bool) {
	v, kB, ok := findKV(file, key)
	switch {
	case !ok:
		return 0, false
	case !kB:
		return v, true
	case v > math.MaxUint64/1024:
		return 0, false
	}
	return v * 1024, true
}

// findKV returns the value of the first line labelled key and whether its unit is kB.
func findKV(file []byte, key string) (v uint64, kB, ok bool) {
	for rest := file; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		line = bytes.TrimSuffix(line, []byte{'\n'})
		if !bytes.HasPrefix(line, []byte(key)) || len(line) == len(key) || (line[len(key)] != ':' && line[len(key)] != ' ') {
			continue
		}
		kv, cause := parseKV(line)
		if cause != "" {
			return 0, false, false
		}
		return kv.val, string(bytes.TrimSpace(line[kv.valEnd:])) == "kB", true
	}
	return 0, false, false
}
