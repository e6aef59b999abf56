package store

import (
	"fmt"
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

// stopIndexer stops the indexer; with final, it first indexes what is
// sealed, so a clean restart need not read those segments whole.
func (s *Store) stopIndexer(final bool) {
	s.idxOnce.Do(func() {}) // none starts after this
	if !s.idxRunning || s.idxStopped {
		return
	}
	s.idxStopped, s.idxFinal = true, final
	close(s.idxStop)
	<-s.idxDone
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
		} else if err := s.filterIndexed(); err != nil {
			s.opt.Log.Error("build a segment's search filters; will try again", "err", err)
		}
		select {
		case <-s.idxStop:
			if s.group.Err() != nil || !s.idxFinal {
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
// oldest first, and rebuilds the ones found damaged; it stops at the first
// failure.
func (s *Store) indexSealed() error {
	for {
		s.retainMu.Lock()
		var seg *segment
		s.mu.RLock()
		for _, sg := range s.segs[:len(s.segs)-1] {
			if !sg.indexed || sg.rebuild.Load() {
				seg = sg
				break
			}
		}
		s.mu.RUnlock()
		if seg == nil {
			s.retainMu.Unlock()
			return nil
		}
		var err error
		if seg.indexed {
			err = s.rebuildIdx(seg)
		} else {
			err = s.indexSegment(seg, true)
		}
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
	var ents []byte
	kept := sts[:0]
	for _, st := range sts {
		st.mu.Lock()
		row, ok := st.gather(seg, &ents)
		st.mu.Unlock()
		if ok {
			rows, kept = append(rows, row), append(kept, st)
		}
	}
	if err := s.writeIdx(seg, rows, ents); err != nil { // numbers the rows' entries
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

// gather returns st's row for seg's index file and appends its entries,
// encoded, to *ents; the caller holds st.mu.
func (st *stream) gather(seg *segment, ents *[]byte) (idxRow, bool) {
	i := st.spanOf(seg)
	if i < 0 || st.spans[i].onDisk {
		return idxRow{}, false
	}
	sp, end := st.spans[i], st.spanEnd(i)
	k := sort.Search(len(st.ext), func(j int) bool { return st.ext[j].off >= end })
	es := st.ext[:k]
	if len(es) == 0 || es[0].off != sp.off {
		return idxRow{}, false
	}
	gen, genStart := st.gen, st.genStart
	for _, g := range st.endGen {
		if g.seg == seg {
			gen, genStart = g.gen, g.start
		}
	}
	*ents = appendEntries(*ents, es)
	return rowOf(st.key, gen, genStart, es), true
}

// rowOf describes a stream's extents es in one segment, oldest first, which
// end with generation gen.
func rowOf(key Key, gen string, genStart int64, es []extent) idxRow {
	first, last := es[0], es[len(es)-1]
	row := idxRow{key: key, gen: gen, genStart: genStart, firstOff: first.off, endOff: last.off + last.n, firstTime: first.time, lastTime: last.time, count: uint32(len(es))}
	for _, e := range es {
		if e.time/int64(time.Second)/86400 == last.time/int64(time.Second)/86400 {
			row.last += e.n
		}
	}
	return row
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

// rebuildIdx writes seg's index file again from its records, after a read
// found it damaged; the caller holds retainMu. The streams' spans keep
// pointing at seg: only their entry numbers change.
func (s *Store) rebuildIdx(seg *segment) error {
	type want struct {
		st       *stream
		off, end int64
		es       []extent
		gen      string
		genStart int64
	}
	wants := map[string]*want{}
	for _, st := range s.allStreams() {
		st.mu.Lock()
		if i := st.spanOf(seg); i >= 0 {
			wants[st.key.String()] = &want{st: st, off: st.spans[i].off, end: st.spanEnd(i)}
		}
		st.mu.Unlock()
	}
	_, err := scanSegment(seg.f, seg.size, true, func(r *scanned) {
		w := wants[string(r.key)]
		if r.kind != kindData || w == nil || r.offset != w.off+sumN(w.es) || r.offset >= w.end {
			return
		}
		w.es = append(w.es, extent{off: r.offset, pos: r.dataPos, time: r.time, n: int64(r.dataLen)})
		if w.gen != string(r.gen) {
			w.gen = string(r.gen)
		}
		w.genStart = r.genStart
	})
	var rows []idxRow
	var entries [][]extent
	var sts []*stream
	for _, w := range wants {
		// A shortfall at the end is a hole recovery kept (see accept).
		if err == nil && len(w.es) == 0 {
			err = fmt.Errorf("it holds none of the bytes [%d,%d) of %s", w.off, w.end, w.st.key)
		}
		if err != nil {
			break
		}
		rows, entries, sts = append(rows, rowOf(w.st.key, w.gen, w.genStart, w.es)), append(entries, w.es), append(sts, w.st)
	}
	if err != nil {
		seg.rebuild.Store(false)
		s.opt.Log.Error("a segment is damaged; its index cannot be rebuilt", "segment", seg.name, "err", err)
		seg.ixMu.Lock()
		seg.ixErr = fmt.Errorf("the segment %s is damaged (%v): its bytes cannot be read; restore it from a backup", seg.name, err)
		seg.ixMu.Unlock()
		return nil
	}
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return compareKeys(rows[a].key, rows[b].key) })
	rows, entries, sts = permute(rows, order), permute(entries, order), permute(sts, order)
	var ents []byte
	for _, es := range entries {
		ents = appendEntries(ents, es)
	}
	if err := s.writeIdx(seg, rows, ents); err != nil {
		return err
	}
	for i, st := range sts {
		st.mu.Lock()
		if j := st.spanOf(seg); j >= 0 {
			st.spans[j].first, st.spans[j].count = rows[i].first, rows[i].count
		}
		st.mu.Unlock()
	}
	// Clear the flag first: damage found from here on asks for another
	// rebuild.
	seg.rebuild.Store(false)
	seg.ixMu.Lock()
	if seg.ix != nil {
		seg.ix.Close()
	}
	seg.ix, seg.ixErr = nil, nil
	seg.ixMu.Unlock()
	s.opt.Log.Warn("rebuilt a damaged segment index from its records", "segment", seg.name)
	return nil
}

func sumN(es []extent) int64 {
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].off + es[len(es)-1].n - es[0].off
}

func permute[T any](in []T, order []int) []T {
	out := make([]T, len(in))
	for i, j := range order {
		out[i] = in[j]
	}
	return out
}

// allStreams lists the streams; their locks are taken after s.mu is let go,
// since Begin takes s.mu while holding one (dropIfEmpty).
func (s *Store) allStreams() []*stream {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sts := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		sts = append(sts, st)
	}
	return sts
}
