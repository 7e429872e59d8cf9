package proc

import (
	"bytes"
	"fmt"

	"procfsd/cgroupview"
)

// /proc/swaps (kernel mm/swapfile.c, swap_show). docs/behaviour.md §2.2: the container sees one
// virtual device whose size and use are its swap figures (swapFigures), or only the header when it
// has no swap. The header is the host's, byte for byte: older kernels print single tabs
// ("Size\tUsed\tPriority"), newer ones double tabs; the data line follows the header's style.

// swapNameWidth is swap_show's "%*s" padding of the file name to 40 columns.
const swapNameWidth = 40

// RenderSwaps appends the container's /proc/swaps. hostMeminfo supplies the host SwapTotal.
func RenderSwaps(w *bytes.Buffer, hostSwaps, hostMeminfo []byte, m cgroupview.Memory) error {
	header, _ := nextLine(hostSwaps)
	if !bytes.HasPrefix(header, []byte("Filename")) || header[len(header)-1] != '\n' {
		return fmt.Errorf("parse swaps line 1 %q: no header: %w", header, errMalformed)
	}
	hostSwap, _ := HostValue(hostMeminfo, "SwapTotal")
	total, free := swapFigures(hostSwap, m)
	w.Write(header)
	if total == 0 {
		return nil
	}
	size, used := total/1024, (total-free)/1024
	w.WriteString("none")
	w.Write(bytes.Repeat([]byte{' '}, swapNameWidth-len("none")))
	if !bytes.Contains(header, []byte("Size\t\tUsed")) {
		// Older kernels: "%s%*s%s\t%u\t%u\t%d\n".
		fmt.Fprintf(w, "virtual\t\t%d\t%d\t0\n", size, used)
		return nil
	}
	// Newer kernels "%s%*s%s\t%lu\t%s%lu\t%s%d\n": an extra tab after a short number keeps columns.
	fmt.Fprintf(w, "virtual\t\t%d\t%s%d\t%s0\n", size, shortTab(size), used, shortTab(used))
	return nil
}

// shortTab is swap_show's `v < 10000000 ? "\t" : ""`.
func shortTab(v uint64) string {
	if v < 10000000 {
		return "\t"
	}
	return ""
}
