package store

import (
	"slices"
	"sort"
	"time"
)

// The indexer writes the index file of each sealed segment in the
// background, then lets go of the segment's extents: the append path never
// waits for it, and until it is done reads use the extents.

// indexRetry is how long the indexer waits after a failure (a full disk).
const indexRetry = 10 * time.Second

// StartIndexer starts indexing sealed segments. Open starts it itself unless
// Options.JournalSafe is set: then the owner calls it once the journal's
// reader has recovered, since an indexed segment's journal entries are not
// handed to OnJournal again.
func (s *Store) StartIndexer() {
	s.idxOnce.Do(func() {
		s.idxRunning = true
		go s.indexLoop()
	})
}

func (s *Store) wakeIndexer() {
	select {
	case s.idxWake <- struct{}{}:
	default:
	}
}

func (s *Store) indexLoop() {
	defer close(s.idxDone)
	for {
		err := s.indexSealed()
		if err != nil {
			s.opt.Log.Error("index a sealed segment; will try again", "err", err)
		}
		select {
		case <-s.idxStop:
			if s.group.Err() != nil {
				return // the disk failed: leave the rest to recovery
			}
			if err := s.indexSealed(); err != nil {
				s.opt.Log.Warn("could not index a sealed segment before closing; the next start reads it whole", "err", err)
			}
			return
		case <-s.idxWake:
		case <-time.After(indexRetry):
		}
	}
}

// indexSealed indexes every sealed segment that has no index file yet,
// oldest first, and stops at the first failure.
func (s *Store) indexSealed() error {
	for {
		s.retainMu.Lock()
		var seg *segment
		s.mu.RLock()
		for _, sg := range s.segs[:len(s.segs)-1] {
			if !sg.indexed {
				seg = sg
				break
			}
		}
		s.mu.RUnlock()
		if seg == nil {
			s.retainMu.Unlock()
			return nil
		}
		err := s.indexSegment(seg, true)
		s.retainMu.Unlock()
		if err != nil {
			return err
		}
	}
}

// indexSegment writes seg's index file and moves its streams' spans onto it.
// seg must be the oldest sealed segment not yet indexed, so its extents are
// a prefix of each stream's ext. With journal, the journal entries in it are
// first made safe elsewhere (Options.JournalSafe): recovery does not read an
// indexed segment's records. The caller holds retainMu.
func (s *Store) indexSegment(seg *segment, journal bool) error {
	if journal && s.opt.JournalSafe != nil {
		if _, err := s.opt.JournalSafe(); err != nil {
			return err
		}
	}
	sts := make([]*stream, 0, len(seg.touched))
	for st := range seg.touched {
		sts = append(sts, st)
	}
	slices.SortFunc(sts, func(a, b *stream) int { return compareKeys(a.key, b.key) })
	rows := make([]idxRow, 0, len(sts))
	entries := make([][]extent, 0, len(sts))
	kept := sts[:0]
	for _, st := range sts {
		st.mu.Lock()
		row, es, ok := st.gather(seg)
		st.mu.Unlock()
		if ok {
			rows, entries, kept = append(rows, row), append(entries, es), append(kept, st)
		}
	}
	// encodeIdx numbers the entries of each row.
	b := encodeIdx(seg, rows, entries)
	entries = nil
	if err := s.writeIdx(seg, b); err != nil {
		return err
	}
	for i, st := range kept {
		st.mu.Lock()
		st.release(seg, rows[i])
		st.mu.Unlock()
	}
	seg.indexed, seg.touched = true, nil
	return nil
}

func compareKeys(a, b Key) int {
	if a.Host != b.Host {
		if a.Host < b.Host {
			return -1
		}
		return 1
	}
	switch {
	case a.Stream < b.Stream:
		return -1
	case a.Stream > b.Stream:
		return 1
	}
	return 0
}

// spanOf returns the index of st's span in seg, or -1.
func (st *stream) spanOf(seg *segment) int {
	for i := len(st.spans) - 1; i >= 0; i-- {
		if st.spans[i].seg == seg {
			return i
		}
	}
	return -1
}

// gather returns st's row and extents for seg's index file (a copy, since
// appends may grow ext meanwhile); the caller holds st.mu.
func (st *stream) gather(seg *segment) (idxRow, []extent, bool) {
	i := st.spanOf(seg)
	if i < 0 || st.spans[i].onDisk {
		return idxRow{}, nil, false
	}
	sp, end := st.spans[i], st.spanEnd(i)
	k := sort.Search(len(st.ext), func(j int) bool { return st.ext[j].off >= end })
	es := slices.Clone(st.ext[:k])
	if len(es) == 0 || es[0].off != sp.off {
		return idxRow{}, nil, false
	}
	row := idxRow{key: st.key, firstOff: sp.off, endOff: end, firstTime: sp.time, gen: st.gen, genStart: st.genStart}
	for _, g := range st.endGen {
		if g.seg == seg {
			row.gen, row.genStart = g.gen, g.start
		}
	}
	last := es[len(es)-1].time
	row.lastTime = last
	for _, e := range es {
		if e.time/int64(time.Second)/86400 == last/int64(time.Second)/86400 {
			row.last += e.n
		}
	}
	return row, es, true
}

// release points st's span in seg at its row r of the index file and drops
// the extents now held there; the caller holds st.mu.
func (st *stream) release(seg *segment, r idxRow) {
	j := st.spanOf(seg)
	if j < 0 {
		return
	}
	sp := &st.spans[j]
	sp.onDisk, sp.first, sp.count = true, r.first, r.count
	end := st.spanEnd(j)
	k := sort.Search(len(st.ext), func(j int) bool { return st.ext[j].off >= end })
	st.ext = shrink(st.ext[:copy(st.ext, st.ext[k:])])
	st.endGen = slices.DeleteFunc(st.endGen, func(g genAt) bool { return g.seg == seg })
}

// shrink gives back the memory of a slice that was once much longer, so a
// burst does not pin its peak for good.
func shrink[T any](s []T) []T {
	if cap(s) > 1024 && cap(s) > 4*len(s) {
		return slices.Clone(s)
	}
	return s
}
