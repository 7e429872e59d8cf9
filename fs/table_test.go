package fs

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNodeIDsNeverChange pins every node ID: a successor process serving a handed-over connection
// must agree with the kernel's cached IDs (docs/behaviour.md §5). Add rows; never edit them.
func TestNodeIDsNeverChange(t *testing.T) {
	want := map[uint64]string{
		1: "", 2: "proc", 3: "sys", 4: "sys/devices", 5: "sys/devices/system",
		6: "sys/devices/system/cpu", 7: "proc/pressure", 8: "proc/sys", 9: "proc/sys/kernel",
		10: "proc/cpuinfo", 11: "proc/meminfo", 12: "proc/stat", 13: "proc/vmstat",
		14: "proc/loadavg", 15: "proc/uptime", 16: "proc/swaps", 17: "proc/diskstats",
		18: "proc/pressure/cpu", 19: "proc/pressure/memory", 20: "proc/pressure/io",
		21: "sys/devices/system/cpu/online", 22: "proc/sys/kernel/stats_isolated",
		23: "proc/sys/kernel/container_stats_isolated",
	}
	got := map[uint64]string{}
	for _, n := range table {
		if _, dup := got[n.id]; dup {
			t.Fatalf("node ID %d used twice", n.id)
		}
		got[n.id] = n.path
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("node table changed (-want +got):\n%s", diff)
	}
	if table[idHostSwitch-1].path != "proc/sys/kernel/stats_isolated" ||
		table[idContainerSwitch-1].path != "proc/sys/kernel/container_stats_isolated" {
		t.Error("switch IDs do not name the switch files")
	}
}

func TestTreeWithoutPSI(t *testing.T) {
	for _, psi := range []bool{true, false} {
		tr := newTree(psi)
		_, hasPressure := tr.byName[childKey{2, "pressure"}]
		if hasPressure != psi {
			t.Errorf("host PSI %v: proc/pressure listed = %v", psi, hasPressure)
		}
		if tr.byName[childKey{9, "stats_isolated"}] == nil {
			t.Errorf("host PSI %v: stats_isolated missing", psi)
		}
	}
}
