package proc

import (
	"bytes"
	"fmt"
	"strconv"
)

// /proc/cpuinfo (x86: arch/x86/kernel/cpu/proc.c show_cpuinfo; arm64: arch/arm64/kernel/cpuinfo.c
// c_show). docs/behaviour.md §2.3: the container sees the blocks of its visible CPUs, in the given
// order, renumbered "processor\t: 0..N-1", with "siblings" and "cpu cores" equal to N so that tools
// counting cores from cpuinfo agree with stat and online. Every other line (core id, apicid, flags,
// …) is the host's, byte for byte. Text before the first block and after the last (a header,
// arm32's "Hardware" lines) is kept. A host without "processor : N" blocks (s390x prints "processor
// N: …") is an error, so the caller serves the host file.

// cpuBlock is host[start:end], the block of host CPU id.
type cpuBlock struct {
	id         int
	start, end int
}

// RenderCpuinfo appends the blocks of host CPUs cpus, in that order.
func RenderCpuinfo(w *bytes.Buffer, host []byte, cpus []int) error {
	if len(cpus) == 0 {
		return fmt.Errorf("render cpuinfo: no cpus: %w", errMalformed)
	}
	blocks, trailer, err := cpuBlocks(host)
	if err != nil {
		return err
	}
	start := w.Len()
	w.Grow(len(host))
	w.Write(host[:blocks[0].start])
	for k, id := range cpus {
		b, ok := findBlock(blocks, id, k)
		if !ok {
			w.Truncate(start)
			return fmt.Errorf("render cpuinfo: cpu %d not in host cpuinfo: %w", id, errMalformed)
		}
		if k > 0 && w.Bytes()[w.Len()-1] != '\n' {
			w.WriteByte('\n') // a host's unterminated last block, shown before another
		}
		writeCPUBlock(w, host[b.start:b.end], k, len(cpus))
	}
	w.Write(host[trailer:])
	return nil
}

// cpuBlocks splits host at its "processor : N" lines. The last block ends at its first empty
// line; what follows is the trailer.
func cpuBlocks(host []byte) (blocks []cpuBlock, trailer int, err error) {
	blocks = make([]cpuBlock, 0, 64)
	last := -1 // index of the open block
	for off, n := 0, 1; off < len(host); n++ {
		line, _ := nextLine(host[off:])
		body := bytes.TrimSuffix(line, []byte{'\n'})
		switch {
		case len(body) == 0:
			if last >= 0 && blocks[last].end == len(host) {
				blocks[last].end = off + len(line) // provisional: a later processor line moves it
			}
		case bytes.HasPrefix(body, []byte("processor")):
			label, numStart, numEnd, ok := cpuinfoField(body)
			if !ok || string(label) != "processor" {
				break
			}
			id, ok := atoi(body[numStart:numEnd])
			if !ok {
				return nil, 0, lineError("cpuinfo", n, body, "bad processor number")
			}
			if last >= 0 {
				blocks[last].end = off
			}
			blocks = append(blocks, cpuBlock{id: id, start: off, end: len(host)})
			last = len(blocks) - 1
		}
		off += len(line)
	}
	if len(blocks) == 0 {
		return nil, 0, fmt.Errorf("parse cpuinfo: no processor lines: %w", errMalformed)
	}
	return blocks, blocks[last].end, nil
}

// findBlock finds host CPU id, trying position hint first (cpus usually ascend like the host).
func findBlock(blocks []cpuBlock, id, hint int) (cpuBlock, bool) {
	if hint < len(blocks) && blocks[hint].id == id {
		return blocks[hint], true
	}
	for _, b := range blocks {
		if b.id == id {
			return b, true
		}
	}
	return cpuBlock{}, false
}

// writeCPUBlock writes one block with the processor number k and n siblings and cores.
func writeCPUBlock(w *bytes.Buffer, block []byte, k, n int) {
	for rest := block; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		v := -1
		if c := line[0]; c != 'p' && c != 's' && c != 'c' { // processor, siblings, cpu cores
			w.Write(line)
			continue
		}
		label, numStart, numEnd, ok := cpuinfoField(bytes.TrimSuffix(line, []byte{'\n'}))
		switch {
		case !ok:
		case string(label) == "processor":
			v = k
		case string(label) == "siblings" || string(label) == "cpu cores":
			v = n
		}
		if v < 0 {
			w.Write(line)
			continue
		}
		w.Write(line[:numStart])
		var d [20]byte
		w.Write(strconv.AppendInt(d[:0], int64(v), 10))
		w.Write(line[numEnd:])
	}
}

// cpuinfoField parses "label<tabs>: 123…" into the label and the span of the leading number.
func cpuinfoField(line []byte) (label []byte, numStart, numEnd int, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return nil, 0, 0, false
	}
	label = bytes.TrimRight(line[:colon], " \t")
	numStart = colon + 1
	for numStart < len(line) && line[numStart] == ' ' {
		numStart++
	}
	numEnd = numStart
	for numEnd < len(line) && line[numEnd] >= '0' && line[numEnd] <= '9' {
		numEnd++
	}
	return label, numStart, numEnd, numEnd > numStart
}

// atoi parses a short decimal without allocating; false on overflow or non-digits.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}
