package history

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"procfsd/cgroupview"
	"procfsd/proc"
)

// TestHistoryRoundTrip: a container's /proc/stat model and load averages survive export, JSON
// and import into another server, which then continues exactly as the first would; a different
// container under the same cgroup path starts afresh; the clock journal's newer clock wins over
// an older saved history.
func TestHistoryRoundTrip(t *testing.T) {
	cfg := testConfig{ProcRoot: "/proc", CgroupRoot: "/sys/fs/cgroup", LoadavgInterval: time.Second, StateDir: t.TempDir()}
	a, err := newStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Paths name the root cgroups, which exist, so that LoadHistory keeps the entry.
	c := &cgroupview.Container{ID: "/ctr", Paths: map[string]string{"": "/", "memory": "/"}, InitPID: 42, InitStart: 1000}
	st := a.states.get(c)
	st.AdvanceClock(proc.CPUSample{Uptime: 10, CPUs: 3, UserTicks: 301, SystemTicks: 50})
	st.Loadavg(cgroupview.Tasks{Running: 3}, time.Second)
	st.SampleLoad(cgroupview.Activity{Running: 5}, time.Now())
	// The file is written one container at a time; it must decode as json.Marshal's would.
	exported := a.Export()
	var enc bytes.Buffer
	if err := encodeHistory(&enc, exported); err != nil {
		t.Fatal(err)
	}
	b := enc.Bytes()
	var h History
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	whole, err := json.Marshal(exported)
	if err != nil {
		t.Fatal(err)
	}
	var hWhole History
	if err := json.Unmarshal(whole, &hWhole); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(hWhole, h); diff != "" {
		t.Errorf("streamed history differs from json.Marshal's (-marshal +streamed):\n%s", diff)
	}
	bSrv, err := newStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bSrv.Import(h)
	next := proc.CPUSample{Uptime: 12, CPUs: 2, UserTicks: 420, SystemTicks: 61}
	want := st.AdvanceClock(next)
	got := bSrv.states.get(c).AdvanceClock(next)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("imported clock differs (-exporter +importer):\n%s", diff)
	}
	la, lb := st.Loadavg(cgroupview.Tasks{}, time.Second), bSrv.states.get(c).Loadavg(cgroupview.Tasks{}, time.Second)
	if la.Snapshot() != lb.Snapshot() {
		t.Errorf("imported load averages %v, exported %v", lb.Snapshot(), la.Snapshot())
	}

	// The same path with another init is another container: imported history is not its own.
	dSrv, err := newStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dSrv.Import(h)
	other := *c
	other.InitStart = 2000
	fresh := proc.CPUClock{}
	if diff := cmp.Diff(fresh.Advance(next), dSrv.states.get(&other).AdvanceClock(next)); diff != "" {
		t.Errorf("a new container under a reused path kept the old history (-fresh +got):\n%s", diff)
	}

	// A saved history older than the clock journal: the journal's clock is used.
	a.clockJournal()
	st.AdvanceClock(proc.CPUSample{Uptime: 20, CPUs: 2, UserTicks: 900, SystemTicks: 70})
	if err := os.WriteFile(cfg.StateDir+"/"+historyName, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cSrv, err := newStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cSrv.Load(); err != nil {
		t.Fatal(err)
	}
	last := proc.CPUSample{Uptime: 21, CPUs: 2, UserTicks: 905, SystemTicks: 70}
	if diff := cmp.Diff(st.AdvanceClock(last), cSrv.states.get(c).AdvanceClock(last)); diff != "" {
		t.Errorf("restart did not resume from the clock journal (-running +restarted):\n%s", diff)
	}
}

// TestClockJournalCollision: two containers whose IDs hash to the same home slot keep one slot
// each, and a successor (a new mapping of the same file) finds both.
func TestClockJournalCollision(t *testing.T) {
	dir := t.TempDir()
	j, err := openClockJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	home := map[uint64]string{}
	var a, b string
	for i := 0; a == ""; i++ {
		id := fmt.Sprintf("/c%d", i)
		h := idHash(id) % clockSlots
		if other, ok := home[h]; ok {
			a, b = other, id
		}
		home[h] = id
	}
	for n, id := range []string{a, b} {
		cj, _ := json.Marshal(&cgroupview.Container{ID: id})
		clock := proc.CPUClockState{Lines: []proc.CPUTimes{{User: uint64(n + 1)}}, User: uint64(n + 1), Uptime: 5, Seeded: true}
		j.put(id, cj, time.Now(), &clock)
	}
	j.close()
	j, err = openClockJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	got := map[string]uint64{}
	for _, ch := range j.all() {
		got[ch.Container.ID] = ch.Clock.User
	}
	if want := map[string]uint64{a: 1, b: 2}; !cmp.Equal(got, want) {
		t.Errorf("colliding IDs %q and %q: journal holds %v, want %v", a, b, got, want)
	}
}

// TestClockJournalTornWrite: a server killed while it writes a container's clock leaves the
// previous clock readable: a successor never falls back to an older saved history than what
// readers were shown.
func TestClockJournalTornWrite(t *testing.T) {
	dir := t.TempDir()
	j, err := openClockJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	const id = "/ctr"
	cj, _ := json.Marshal(&cgroupview.Container{ID: id})
	put := func(user uint64) {
		clock := proc.CPUClockState{Lines: []proc.CPUTimes{{User: user}}, User: user, Uptime: float64(user), Seeded: true}
		j.put(id, cj, time.Now(), &clock)
	}
	// tear leaves the next write the way SIGKILL would cut it: put writes into a copy of the
	// slot, and that copy is then put back with checksum 0 and half its new payload.
	tear := func() {
		slot := j.mem[j.slotFor(id)*clockSlotSize:][:clockSlotSize]
		before := append([]byte(nil), slot...)
		put(999)
		s := slot[:clockCopySize]
		if bytes.Equal(before[:clockCopySize], slot[:clockCopySize]) {
			s = slot[clockCopySize:]
		}
		written := append([]byte(nil), s...)
		copy(slot, before)
		copy(s[:clockCopyHeader+40], written)
		binary.LittleEndian.PutUint32(s[0:4], 0)
	}
	successor := func(want uint64) {
		t.Helper()
		k, err := openClockJournal(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer k.close()
		all := k.all()
		if len(all) != 1 || all[0].Container.ID != id || all[0].Clock.User != want {
			t.Fatalf("successor reads %+v; want %s with user %d", all, id, want)
		}
	}
	put(1)
	put(2)
	tear()
	successor(2)
	put(3) // overwrites the torn copy, keeps 2
	successor(3)
	tear()
	successor(3)
	put(4)
	put(5)
	successor(5)
	j.close()
}
