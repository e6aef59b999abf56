package store

import (
	"fmt"
	"strings"
	"testing"
)

// TestClosedSegmentKeepsNoFilterFile: a search that listed a segment
// before retention or Close closed it must not open its filter file again:
// nothing would close it, and the deleted file's space would stay held.
func TestClosedSegmentKeepsNoFilterFile(t *testing.T) {
	s := newTestStore(t, Options{SegmentSize: 16 << 10, BuildFilter: func(_, block, _ []byte) []byte { return []byte("f") }})
	k := Key{Host: "lab-1", Stream: "syslog"}
	var off int64
	for i := range 200 {
		line := fmt.Sprintf("line %d %s\n", i, strings.Repeat("x", 200))
		if _, err := Append(t.Context(), s, k, off, Gen{}, []byte(line)); err != nil {
			t.Fatal(err)
		}
		off += int64(len(line))
	}
	if err := s.indexSealed(); err != nil {
		t.Fatal(err)
	}
	if err := s.filterIndexed(); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	seg := s.segs[0] // as a search lists them
	s.mu.RUnlock()
	if s.fltTableOf(seg) == nil {
		t.Fatal("the sealed segment has no filter table")
	}
	seg.close() // as retention does, before it removes the files
	if s.fltTableOf(seg) != nil || seg.fltFile != nil {
		seg.fltMu.Lock()
		seg.closeFilters()
		seg.fltMu.Unlock()
		t.Fatal("a closed segment's filter file was opened again")
	}
}
