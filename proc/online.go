package proc

import (
	"bytes"
	"strconv"
)

// RenderOnline appends /sys/devices/system/cpu/online for n visible CPUs: "0-(n-1)", or "0" when n
// is 1 (the kernel's cpulist format, lib/vsprintf.c bitmap_list_string). docs/behaviour.md §2.3:
// the CPUs are renumbered like cpuinfo and stat, so glibc's sysconf(_SC_NPROCESSORS_ONLN), which
// parses this file, agrees with them; LXCFS prints the raw cpuset here instead. n < 1 counts as 1.
func RenderOnline(w *bytes.Buffer, n int) {
	w.WriteByte('0')
	if n > 1 {
		w.WriteByte('-')
		w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(n-1), 10))
	}
	w.WriteByte('\n')
}
