package fs

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
)

// clockJournal keeps each container's /proc/stat history as of its latest render in a file
// under --state-dir mapped MAP_SHARED, written on every render. The history file is saved only
// every loadavg interval, and a server killed between two saves would otherwise resume from an
// older model: on cgroup v1 the user/system split of cpuacct jitters, so an older model plus
// the advance since can show less than readers already saw (SPEC §2.3: never backwards).
//
// A container takes a slot by open addressing from a hash of its ID (the slot is tagged with the
// hash, so a successor finds the same one) and writes crc32, length, the container as JSON and
// the clock in binary. Only when every slot is taken does a container share its home slot,
// which costs the two only the fallback to the history file. A torn write (the process killed
// mid-copy) fails the checksum and is ignored. At start the slots of containers whose cgroup is
// gone are freed (prune).
const (
	clockJournalName  = "clocks"
	clockSlotSize     = 2048
	clockSlots        = 512
	clockSlotHeader   = 16 // crc32 (4), length (4), hash of the container ID (8)
	clockJournalBytes = clockSlotSize * clockSlots
)

type clockJournal struct {
	mem   []byte
	locks [clockSlots]sync.Mutex

	claim sync.Mutex // serialises taking a slot for a container
	index sync.Map   // container ID → slot
}

func openClockJournal(dir string) (*clockJournal, error) {
	mem, err := mapStateFile(dir, clockJournalName, clockJournalBytes, "clock journal")
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
		tag := binary.LittleEndian.Uint64(c.mem[i*clockSlotSize+8:])
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
// this runs on every /proc/stat render.
func (c *clockJournal) put(id string, cj []byte, lastRead time.Time, clock *proc.CPUClockState) {
	n := 4 + len(cj) + 8*4 + 4 + 24*len(clock.Lines)
	if n > clockSlotSize-clockSlotHeader {
		return
	}
	i := c.slotFor(id)
	c.locks[i].Lock()
	defer c.locks[i].Unlock()
	s := c.mem[i*clockSlotSize : (i+1)*clockSlotSize]
	le := binary.LittleEndian
	le.PutUint32(s[0:4], 0) // invalid while copying
	le.PutUint64(s[8:16], idHash(id))
	b := s[clockSlotHeader : clockSlotHeader+n]
	le.PutUint32(b, uint32(len(cj)))
	off := 4 + copy(b[4:], cj)
	for _, v := range []uint64{uint64(lastRead.UnixNano()), clock.User, clock.System, math.Float64bits(clock.Uptime)} {
		le.PutUint64(b[off:], v)
		off += 8
	}
	le.PutUint32(b[off:], uint32(len(clock.Lines)))
	off += 4
	for _, l := range clock.Lines {
		le.PutUint64(b[off:], l.User)
		le.PutUint64(b[off+8:], l.System)
		le.PutUint64(b[off+16:], l.Idle)
		off += 24
	}
	le.PutUint32(s[4:8], uint32(n))
	le.PutUint32(s[0:4], crc32.ChecksumIEEE(b)|1)
}

// all returns every intact entry.
func (c *clockJournal) all() []ContainerHistory {
	var out []ContainerHistory
	for i := range clockSlots {
		s := c.mem[i*clockSlotSize : (i+1)*clockSlotSize]
		sum, n := binary.LittleEndian.Uint32(s[0:4]), binary.LittleEndian.Uint32(s[4:8])
		if sum == 0 || n == 0 || n > clockSlotSize-clockSlotHeader {
			continue
		}
		b := s[clockSlotHeader : clockSlotHeader+n]
		if crc32.ChecksumIEEE(b)|1 != sum {
			continue
		}
		if ch, ok := decodeClock(b); ok {
			out = append(out, ch)
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
		s := c.mem[i*clockSlotSize : (i+1)*clockSlotSize]
		if binary.LittleEndian.Uint64(s[8:16]) == 0 {
			continue
		}
		sum, n := binary.LittleEndian.Uint32(s[0:4]), binary.LittleEndian.Uint32(s[4:8])
		keep := false
		if sum != 0 && n > 0 && n <= clockSlotSize-clockSlotHeader {
			b := s[clockSlotHeader : clockSlotHeader+n]
			if crc32.ChecksumIEEE(b)|1 == sum {
				ch, ok := decodeClock(b)
				keep = ok && !gone(ch)
			}
		}
		if !keep {
			clear(s[:clockSlotHeader])
		}
	}
}
