package fuseconn

import (
	"encoding/binary"
	"testing"
)

// BenchmarkJournalSlot is what every request adds for the request journal.
func BenchmarkJournalSlot(b *testing.B) {
	j, err := OpenJournal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	req := make([]byte, 80)
	binary.LittleEndian.PutUint32(req[0:4], 80)
	binary.LittleEndian.PutUint64(req[8:16], 1234)
	s := j.slot(0)
	for b.Loop() {
		s.begin(req)
		s.end()
	}
}
