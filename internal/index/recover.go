package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// repairTail cuts what follows the last whole JSON line of name, checking
// from byte from on (what was synced before is whole), and syncs what a
// killed process left in the page cache.
func (w *Writer) repairTail(name string, from int64) error {
	f, err := w.fs.OpenFile(filepath.Join(w.dir, name), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open index file: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return err
	}
	cut := from
	err = eachLine(f, from, func(line []byte, end int64) bool {
		if !json.Valid(line) {
			return false
		}
		cut = end
		return true
	})
	if err != nil {
		return err
	}
	if cut < size {
		w.log.Warn("cut a torn tail off the index (lines never acknowledged)", "file", name, "bytes", size-cut)
		if err := f.Truncate(cut); err != nil {
			return fmt.Errorf("cut torn index line: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync index file: %w", err)
	}
	return nil
}

// lastSeqIn returns the sequence number of the last numbered line in files
// (oldest first), or 0 when none has one.
func (w *Writer) lastSeqIn(files []string) (uint64, error) {
	for i := len(files) - 1; i >= 0; i-- {
		seq, ok, err := w.lastSeq(files[i])
		if err != nil || ok {
			return seq, err
		}
	}
	return 0, nil
}

// lastSeq returns the sequence number of the last line in name.
func (w *Writer) lastSeq(name string) (uint64, bool, error) {
	f, err := w.fs.OpenFile(filepath.Join(w.dir, name), os.O_RDONLY, 0)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	last, err := lastLine(f)
	if err != nil || len(last) == 0 {
		return 0, false, err
	}
	var l struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(last, &l); err != nil {
		return 0, false, nil
	}
	return l.Seq, true, nil
}

// Collect keeps a journal entry found by the store's recovery if the day
// files may be missing it or hold a garbled copy of it: a line of the
// newest file (which alone can hold unsynced lines) after the sync mark.
// Pass it as store.Options.OnJournal.
func (w *Writer) Collect(seq uint64, payload []byte) {
	if seq > w.base && seq > w.mark.Seq {
		w.pending = append(w.pending, entry{seq, bytes.Clone(payload)})
	}
}

// Recover reconciles the day files with the journal once the store is open,
// then attaches it: lines of the newest file that the journal holds
// differently (garbled by a crash) are cut, lines the journal never made
// durable (beyond durable, when known) are cut — those requests were never
// answered — and entries the files lost are written back.
func (w *Writer) Recover(j Journal, durable uint64, known bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.verifyNewest(); err != nil {
		return err
	}
	if known && w.seq > durable {
		if err := w.cutBeyond(durable); err != nil {
			return err
		}
		w.seq = durable
	}
	replayed := 0
	for _, e := range w.pending {
		if e.seq <= w.seq {
			continue
		}
		var l Line
		if err := json.Unmarshal(e.payload, &l); err != nil {
			return fmt.Errorf("journal entry %d is not an index line: %w", e.seq, err)
		}
		if _, err := w.writeLine(l.TS, e.payload); err != nil {
			return err
		}
		w.seq = e.seq
		replayed++
	}
	w.pending = nil
	if replayed > 0 {
		w.log.Info("wrote back index lines from the journal", "lines", replayed)
	}
	if w.f != nil {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("sync index file: %w", err)
		}
	}
	// Every line is now synced in the files and, as far as the journal
	// knows it, durable there: mark it, so the segments indexed before the
	// next sync are covered too.
	if w.day != "" {
		size, err := w.fileSize(w.day)
		if err != nil {
			return err
		}
		if err := w.markSynced(syncMark{File: w.day, Size: size, Seq: w.seq}, 0); err != nil {
			return err
		}
	}
	w.journal = j
	return nil
}

// verifyNewest cuts the newest file at its first line that the journal holds
// differently, or that does not follow the line before it; the caller holds
// w.mu. With a journal, a line is acknowledged once its journal entry is
// synced, while the day file is written through the page cache: a crash can
// leave a line there garbled and still whole JSON (random bytes, or stale
// blocks), which repairTail cannot tell from a good one. The journal's copy
// is checked by its CRC, so Recover writes it back in place of the cut lines.
func (w *Writer) verifyNewest() error {
	if w.day == "" || len(w.pending) == 0 {
		return nil
	}
	journaled := make(map[uint64][]byte, len(w.pending))
	lo := w.pending[0].seq // the journal holds lo, lo+1, … with no gap
	for _, e := range w.pending {
		journaled[e.seq] = e.payload
		lo = min(lo, e.seq)
	}
	f, err := w.fs.OpenFile(filepath.Join(w.dir, w.day), os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return err
	}
	keep, prev := w.mark.from(w.day)
	if prev == 0 {
		prev = w.base
	}
	err = eachLine(f, keep, func(raw []byte, end int64) bool {
		var l struct {
			Seq uint64 `json:"seq"`
		}
		if json.Unmarshal(raw, &l) != nil || (prev > 0 && l.Seq != prev+1) {
			return false // lines are numbered without gaps from the first numbered one
		}
		p, ok := journaled[l.Seq]
		if ok && l.Seq > 0 && !bytes.Equal(p, raw) {
			return false
		}
		if !ok && l.Seq >= lo {
			// Numbered where the journal holds every line, yet not in it: a
			// seq garbled into another number, or a line never acknowledged.
			// Without this, a garbled first line (no older file to follow)
			// would pass and set the number the replay starts after.
			return false
		}
		prev, keep = l.Seq, end
		return true
	})
	if err != nil {
		return err
	}
	if keep == size {
		return nil
	}
	w.log.Warn("cut index lines that differ from the journal (a crash garbled them; the journal has them)", "file", w.day, "bytes", size-keep)
	if err := w.cut(w.day, keep); err != nil {
		return err
	}
	w.seq = prev
	return nil
}

// cut truncates the index file name to its first keep bytes, durably.
func (w *Writer) cut(name string, keep int64) error {
	f, err := w.fs.OpenFile(filepath.Join(w.dir, name), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(keep)
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("cut index file %s: %w", name, err)
	}
	return nil
}

// cutBeyond removes the lines with a sequence number above seq, newest file
// first; the caller holds w.mu.
func (w *Writer) cutBeyond(seq uint64) error {
	files, err := Files(w.fs, w.dir)
	if err != nil {
		return err
	}
	for i := len(files) - 1; i >= 0 && files[i] >= w.mark.File; i-- {
		keep, cut, err := w.keepUpTo(files[i], seq)
		if err != nil {
			return err
		}
		if !cut {
			return nil // this file ends at or before seq: so do older ones
		}
		if err := w.cut(files[i], keep); err != nil {
			return err
		}
		if keep > 0 {
			return nil
		}
	}
	return nil
}

// keepUpTo returns the length of name's prefix of lines numbered up to seq,
// and whether lines beyond it follow. Lines before the sync mark are known
// durable in the journal: the search starts there.
func (w *Writer) keepUpTo(name string, seq uint64) (int64, bool, error) {
	f, err := w.fs.OpenFile(filepath.Join(w.dir, name), os.O_RDONLY, 0)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return 0, false, err
	}
	keep, _ := w.mark.from(name)
	err = eachLine(f, keep, func(raw []byte, end int64) bool {
		var l struct {
			Seq uint64 `json:"seq"`
		}
		if json.Unmarshal(raw, &l) == nil && l.Seq > seq {
			return false
		}
		keep = end
		return true
	})
	if err != nil || keep == size {
		return keep, false, err
	}
	w.log.Warn("cut index lines the journal never made durable (requests never answered)", "file", name, "bytes", size-keep)
	return keep, true, nil
}
