package history

import (
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"hash/fnv"
	"math"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"procfsd/proc"
	"procfsd/statedir"
)

// clockJournal keeps each container's /proc/stat history as of its latest render in a file under
// --state-dir mapped MAP_SHARED, written on every render. The history file is saved only every
// loadavg interval, and a server killed between two saves would otherwise resume from an older
// model: on cgroup v1 the user/system split of cpuacct jitters, so an older model plus the advance
// since can show less than readers already saw (docs/behaviour.md §2.3: never backwards).
//
// A container takes a slot by open addressing from a hash of its ID (the slot is tagged with the
// hash, so a successor finds the same one). A slot holds two copies, each crc32, length, the
// ID's hash, a sequence number, the container as JSON and the clock in binary; a write goes to
// the older copy. A torn write (the process killed mid-copy, which a page fault on the mapping
// can stretch to milliseconds) fails its checksum, and the other copy, the last whole write,
// is read instead: with one copy the container would fall back to the history file, older than
// what readers have seen, and cpu user could go back by a few ticks (docs/history.md,
// "clocks2, the clock journal"). Only when every slot is taken does a container share its home
// slot, which costs the two only the fallback to the history file. At start the slots of
// containers whose cgroup is gone are freed (prune).
const (
	clockJournalName  = "clocks2" // "clocks" held one copy per slot (removed at open)
	clockCopySize     = 2048
	clockSlotSize     = 2 * clockCopySize
	clockSlots        = 512
	clockCopyHeader   = 24 // crc32 (4), length (4), hash of the container ID (8), sequence (8)
	clockJournalBytes = clockSlotSize * clockSlots
)

type clockJournal struct {
	mem   []byte
	locks [clockSlots]sync.Mutex

	claim sync.Mutex // serialises taking a slot for a container
	index sync.Map   // container ID → slot
}

func openClockJournal(dir string) (*clockJournal, error) {
	statedir.Remove(dir, "clocks") // the one-copy format; its entries are not read
	mem, err := statedir.MapFile(dir, clockJournalName, clockJournalBytes, "clock journal")
	if err != nil {
		return nil, err
	}
	return &clockJournal{mem: mem}, nil
}

func (c *clockJournal) close() {
	if c != nil && c.mem != nil {
		unix.Munmap(c.mem)
		c.mem = nil
	}
}

func idHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64() | 1 // 0 marks a free slot
}

// slotFor returns the container's slot: the one already tagged with its ID's hash, else the
// first free one probing from the hash, else (all taken) its home slot.
func (c *clockJournal) slotFor(id string) int {
	if i, ok := c.index.Load(id); ok {
		return i.(int)
	}
	c.claim.Lock()
	defer c.claim.Unlock()
	h := idHash(id)
	home := int(h % clockSlots)
	slot := home
	for k := range clockSlots {
		i := (home + k) % clockSlots
		tag := binary.LittleEndian.Uint64(c.mem[i*clockSlotSize+8:]) // copy A's hash field
		if tag == h {
			slot = i
			break
		}
		if tag == 0 {
			binary.LittleEndian.PutUint64(c.mem[i*clockSlotSize+8:], h)
			slot = i
			break
		}
	}
	c.index.Store(id, slot)
	return slot
}

// put stores one container's clock. cj is the container's JSON (the caller caches it: the
// container rarely changes, the clock on every render); the clock is stored in binary, since
// this runs on every /proc/stat render. It overwrites the slot's older copy.
func (c *clockJournal) put(id string, cj []byte, lastRead time.Time, clock *proc.CPUClockState) {
	n := 4 + len(cj) + 8*4 + 4 + 24*len(clock.Lines)
	if n > clockCopySize-clockCopyHeader {
		return
	}
	i := c.slotFor(id)
	c.locks[i].Lock()
	defer c.locks[i].Unlock()
	slot := c.mem[i*clockSlotSize : (i+1)*clockSlotSize]
	le := binary.LittleEndian
	a, b := slot[:clockCopySize], slot[clockCopySize:]
	seqA, seqB := le.Uint64(a[16:24]), le.Uint64(b[16:24])
	// A copy whose checksum is 0 was being written when its writer died: overwrite it first,
	// else the older copy. Either way the newest whole copy survives this write.
	s := a
	switch {
	case le.Uint32(a[0:4]) == 0:
	case le.Uint32(b[0:4]) == 0 || seqB < seqA:
		s = b
	}
	le.PutUint32(s[0:4], 0) // invalid while copying
	le.PutUint64(s[8:16], idHash(id))
	le.PutUint64(s[16:24], max(seqA, seqB)+1)
	p := s[clockCopyHeader : clockCopyHeader+n]
	le.PutUint32(p, uint32(len(cj)))
	off := 4 + copy(p[4:], cj)
	for _, v := range []uint64{uint64(lastRead.UnixNano()), clock.User, clock.System, math.Float64bits(clock.Uptime)} {
		le.PutUint64(p[off:], v)
		off += 8
	}
	le.PutUint32(p[off:], uint32(len(clock.Lines)))
	off += 4
	for _, l := range clock.Lines {
		le.PutUint64(p[off:], l.User)
		le.PutUint64(p[off+8:], l.System)
		le.PutUint64(p[off+16:], l.Idle)
		off += 24
	}
	le.PutUint32(s[4:8], uint32(n))
	le.PutUint32(s[0:4], checksum(s[8:clockCopyHeader], p))
}

// checksum covers a copy's hash, sequence and payload; it is never 0, which marks a copy
// being written.
func checksum(head, payload []byte) uint32 {
	return crc32.Update(crc32.ChecksumIEEE(head), crc32.IEEETable, payload) | 1
}

// newest returns the payload of slot i's newest whole copy, or nil.
func (c *clockJournal) newest(i int) []byte {
	slot := c.mem[i*clockSlotSize : (i+1)*clockSlotSize]
	var best []byte
	var bestSeq uint64
	for k := range 2 {
		s := slot[k*clockCopySize : (k+1)*clockCopySize]
		le := binary.LittleEndian
		sum, n, seq := le.Uint32(s[0:4]), le.Uint32(s[4:8]), le.Uint64(s[16:24])
		if sum == 0 || n == 0 || n > clockCopySize-clockCopyHeader {
			continue
		}
		p := s[clockCopyHeader : clockCopyHeader+n]
		if checksum(s[8:clockCopyHeader], p) != sum || (best != nil && seq <= bestSeq) {
			continue
		}
		best, bestSeq = p, seq
	}
	return best
}

// all returns every slot's newest whole entry.
func (c *clockJournal) all() []ContainerHistory {
	var out []ContainerHistory
	for i := range clockSlots {
		if p := c.newest(i); p != nil {
			if ch, ok := decodeClock(p); ok {
				out = append(out, ch)
			}
		}
	}
	return out
}

func decodeClock(b []byte) (ContainerHistory, bool) {
	var ch ContainerHistory
	le := binary.LittleEndian
	if len(b) < 4 {
		return ch, false
	}
	cjLen := int(le.Uint32(b))
	off := 4 + cjLen
	if off+36 > len(b) || json.Unmarshal(b[4:off], &ch.Container) != nil || ch.Container.ID == "" {
		return ch, false
	}
	ch.LastRead = time.Unix(0, int64(le.Uint64(b[off:])))
	ch.Clock.User, ch.Clock.System = le.Uint64(b[off+8:]), le.Uint64(b[off+16:])
	ch.Clock.Uptime = math.Float64frombits(le.Uint64(b[off+24:]))
	lines := int(le.Uint32(b[off+32:]))
	off += 36
	if lines < 0 || off+24*lines != len(b) {
		return ch, false
	}
	for range lines {
		ch.Clock.Lines = append(ch.Clock.Lines, proc.CPUTimes{User: le.Uint64(b[off:]), System: le.Uint64(b[off+8:]), Idle: le.Uint64(b[off+16:])})
		off += 24
	}
	ch.Clock.Seeded = lines > 0
	return ch, true
}

// prune frees the slots of entries for which gone reports true, and of unreadable entries.
// Call it before any put.
func (c *clockJournal) prune(gone func(ContainerHistory) bool) {
	for i := range clockSlots {
		slot := c.mem[i*clockSlotSize : (i+1)*clockSlotSize]
		if binary.LittleEndian.Uint64(slot[8:16]) == 0 {
			continue
		}
		keep := false
		if p := c.newest(i); p != nil {
			ch, ok := decodeClock(p)
			keep = ok && !gone(ch)
		}
		if !keep {
			clear(slot[:clockCopyHeader])
			clear(slot[clockCopySize : clockCopySize+clockCopyHeader])
		}
	}
}
