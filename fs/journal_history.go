package fs

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// clockJournal keeps each container's /proc/stat history as of its latest render in a file
// under --state-dir mapped MAP_SHARED, written on every render. The history file is saved only
// every loadavg interval, and a server killed between two saves would otherwise resume from an
// older model: on cgroup v1 the user/system split of cpuacct jitters, so an older model plus
// the advance since can show less than readers already saw (SPEC §2.3: never backwards).
//
// A slot is chosen by a hash of the container ID and holds crc32, length and the JSON of a
// ContainerHistory; a slot another container owns is overwritten, which costs that container
// only the fallback to the history file. A torn write (the process killed mid-copy) fails the
// checksum and is ignored.
const (
	clockJournalName  = "clocks"
	clockSlotSize     = 2048
	clockSlots        = 512
	clockSlotHeader   = 8 // crc32 (4), length (4)
	clockJournalBytes = clockSlotSize * clockSlots
)

type clockJournal struct {
	mem   []byte
	locks [clockSlots]sync.Mutex
}

func openClockJournal(dir string) (*clockJournal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	path := filepath.Join(dir, clockJournalName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open clock journal: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(clockJournalBytes); err != nil {
		return nil, fmt.Errorf("size clock journal %s: %w", path, err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, clockJournalBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map clock journal %s: %w", path, err)
	}
	return &clockJournal{mem: mem}, nil
}

func (c *clockJournal) close() {
	if c != nil && c.mem != nil {
		unix.Munmap(c.mem)
		c.mem = nil
	}
}

func clockSlot(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % clockSlots)
}

// put stores one container's history; an entry too large for a slot is skipped.
func (c *clockJournal) put(ch *ContainerHistory) {
	b, err := json.Marshal(ch)
	if err != nil || len(b) > clockSlotSize-clockSlotHeader {
		return
	}
	i := clockSlot(ch.Container.ID)
	c.locks[i].Lock()
	defer c.locks[i].Unlock()
	s := c.mem[i*clockSlotSize : (i+1)*clockSlotSize]
	binary.LittleEndian.PutUint32(s[0:4], 0) // invalid while copying
	copy(s[clockSlotHeader:], b)
	binary.LittleEndian.PutUint32(s[4:8], uint32(len(b)))
	binary.LittleEndian.PutUint32(s[0:4], crc32.ChecksumIEEE(b)|1)
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
		var ch ContainerHistory
		if json.Unmarshal(b, &ch) == nil && ch.Container.ID != "" {
			out = append(out, ch)
		}
	}
	return out
}

// reset forgets every entry.
func (c *clockJournal) reset() { clear(c.mem) }
