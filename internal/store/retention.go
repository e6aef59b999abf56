package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"

	"github.com/cis490/cis490/internal/vfs"
)

// Retain drops the oldest segments that are past MaxAge, or while the store
// holds more than MaxBytes, and moves every affected stream's start forward.
// Offsets are never reused: lengths stay, and streams.json remembers them
// before any segment is deleted. The active segment is never dropped. It
// returns how many bytes of segment and index files it removed.
func (s *Store) Retain() (int64, error) {
	s.retainMu.Lock()
	defer s.retainMu.Unlock()
	now := s.now().UnixNano()
	type segStat struct {
		seg          *segment
		size, newest int64
	}
	s.wmu.Lock() // sizes change under wmu
	s.mu.RLock()
	segs := make([]segStat, len(s.segs))
	for i, seg := range s.segs {
		// An index file counts with its segment (idxSize: retainMu).
		segs[i] = segStat{seg, seg.size + seg.idxSize, seg.newest}
	}
	s.mu.RUnlock()
	s.wmu.Unlock()
	var total int64
	for _, st := range segs {
		total += st.size
	}
	var dead []*segment
	for _, st := range segs[:len(segs)-1] {
		old := s.opt.MaxAge > 0 && st.newest < now-int64(s.opt.MaxAge)
		big := s.opt.MaxBytes > 0 && total > s.opt.MaxBytes
		if !old && !big {
			break
		}
		dead = append(dead, st.seg)
		total -= st.size
	}
	if len(dead) == 0 {
		return 0, nil
	}
	isDead := make(map[*segment]bool, len(dead))
	for _, seg := range dead {
		isDead[seg] = true
	}

	sts := s.allStreams()

	// Work out the new starts and record them (and every length) durably
	// before a byte is deleted.
	newStart := make(map[*stream]int64, len(sts))
	var sn snapshot
	var err error
	for _, st := range sts {
		st.mu.Lock()
		start := st.length
		for _, sp := range st.spans {
			if !isDead[sp.seg] {
				start = sp.off
				break
			}
		}
		start = max(start, st.start)
		newStart[st] = start
		sn.Streams = append(sn.Streams, snapStream{Host: st.key.Host, Stream: st.key.Stream, Start: start,
			Length: st.length, Gen: st.gen, GenStart: st.genStart, Updated: st.updated})
		st.mu.Unlock()
	}
	if s.opt.JournalSafe != nil {
		if sn.JournalSeq, err = s.opt.JournalSafe(); err != nil {
			return 0, fmt.Errorf("before dropping segments: %w", err)
		}
	}
	// The lengths and the journal position just read may include writes not
	// yet synced: wait for them, so streams.json never records a byte that
	// is not on disk. This also takes the dropped segments out of the group's
	// dirty set before they are closed.
	if err := s.group.Wait(context.Background(), s.group.Last()); err != nil {
		return 0, fmt.Errorf("before dropping segments: %w", err)
	}
	b, err := json.Marshal(sn)
	if err != nil {
		return 0, err
	}
	if err := vfs.WriteFileAtomic(s.fs, filepath.Join(s.opt.Dir, snapshotFile), b, 0o640); err != nil {
		return 0, fmt.Errorf("write %s: %w", snapshotFile, err)
	}

	for _, st := range sts {
		st.mu.Lock()
		st.dropSegments(isDead)
		dropped := newStart[st] - st.start
		st.start = newStart[st]
		st.mu.Unlock()
		if dropped > 0 {
			s.mu.RLock()
			hu := s.hosts[st.key.Host]
			s.mu.RUnlock()
			hu.mu.Lock()
			hu.total -= dropped
			hu.mu.Unlock()
		}
	}
	s.mu.Lock()
	s.segs = s.segs[len(dead):]
	s.mu.Unlock()
	var freed int64
	for _, seg := range dead {
		seg.close()
		if err := s.fs.Remove(filepath.Join(s.opt.Dir, seg.name)); err != nil {
			return freed, fmt.Errorf("remove %s: %w", seg.name, err)
		}
		freed += seg.size
		if err := s.removeFilters(seg); err != nil {
			return freed, fmt.Errorf("remove %s: %w", fltName(seg.seq), err)
		}
		// Recovery removes an index file left without its segment.
		if seg.indexed {
			if err := s.fs.Remove(filepath.Join(s.opt.Dir, idxName(seg.seq))); err != nil {
				return freed, fmt.Errorf("remove %s: %w", idxName(seg.seq), err)
			}
			freed += seg.idxSize
		}
	}
	if err := s.fs.SyncDir(s.opt.Dir); err != nil {
		return freed, fmt.Errorf("sync store folder: %w", err)
	}
	s.opt.Log.Info("retention dropped old segments", "segments", len(dead), "bytes", freed)
	return freed, nil
}

// dropSegments forgets st's spans (and extents) in the dead segments, the
// oldest ones; the caller holds st.mu.
func (st *stream) dropSegments(isDead map[*segment]bool) {
	i := 0
	for i < len(st.spans) && isDead[st.spans[i].seg] {
		i++
	}
	if i == 0 {
		return
	}
	end := st.length
	if i < len(st.spans) {
		end = st.spans[i].off
	}
	st.spans = shrink(st.spans[:copy(st.spans, st.spans[i:])])
	k := sort.Search(len(st.ext), func(j int) bool { return st.ext[j].off >= end })
	st.ext = shrink(st.ext[:copy(st.ext, st.ext[k:])])
	st.endGen = slices.DeleteFunc(st.endGen, func(g genAt) bool { return isDead[g.seg] })
}
