package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// collect reads the index from cp and returns the seqs handed on.
func collect(t *testing.T, dir string, cp Checkpoint, since, until time.Time) ([]uint64, Checkpoint, ReadStats) {
	t.Helper()
	var seqs []uint64
	cp, st, err := Dir{Path: dir}.Read(t.Context(), cp, since, until, func(r *Line) { seqs = append(seqs, r.Seq) })
	if err != nil {
		t.Fatal(err)
	}
	return seqs, cp, st
}

// TestReadIncrementalAcrossRotation: runs that each read what was added
// since the last see every line exactly once, across day files, torn
// last lines (finished later), malformed lines, and a pruned file.
func TestReadIncrementalAcrossRotation(t *testing.T) {
	f := newFixture(t)
	dir := f.dir
	var seen []uint64
	var cp Checkpoint
	read := func() ReadStats {
		s, next, st := collect(t, dir, cp, t0.Add(-24*time.Hour), time.Time{})
		seen, cp = append(seen, s...), next
		return st
	}
	day1 := time.Date(2026, 11, 25, 23, 58, 0, 0, time.UTC)
	f.add(healthy("lab-1", day1, day1.Add(2*time.Minute))...) // seq 1, 2
	read()
	f.add(healthy("lab-1", day1.Add(2*time.Minute), day1.Add(4*time.Minute))...) // 3, 4 in the next day's file
	// A line being written: torn, no newline yet.
	full, _ := put("lab-1", day1.Add(5*time.Minute), 201, "").MarshalJSON()
	today := FileName(day1.Add(5 * time.Minute))
	f.appendRaw(today, full[:20])
	if st := read(); st.Malformed != 0 {
		t.Fatalf("a torn last line counted as malformed: %+v", st)
	}
	// It is finished (seq 0: hand-written), then garbage, then more lines.
	f.appendRaw(today, append(full[20:], '\n'))
	f.appendRaw(today, []byte("{\"ts\":\"not a time\"}\nnot json at all\n"))
	f.add(healthy("lab-1", day1.Add(6*time.Minute), day1.Add(8*time.Minute))...) // 5, 6
	if st := read(); st.Malformed != 2 {
		t.Fatalf("malformed = %d, want 2", st.Malformed)
	}
	// The first day file is pruned: the checkpoint is past it anyway.
	os.Remove(filepath.Join(dir, FileName(day1)))
	f.add(healthy("lab-1", day1.Add(8*time.Minute), day1.Add(9*time.Minute))...) // 7
	read()
	read() // nothing new
	want := []uint64{1, 2, 3, 4, 0, 5, 6, 7}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("read seqs %v; want %v (each line exactly once)", seen, want)
	}
}

// TestReadReplayStopsAtNow: a replay as of an instant does not read lines
// stamped after it; the next run starts there.
func TestReadReplayStopsAtNow(t *testing.T) {
	f := newFixture(t)
	dir := f.dir
	f.add(healthy("lab-1", t0, t0.Add(10*time.Minute))...)
	s, cp, _ := collect(t, dir, Checkpoint{}, t0.Add(-time.Hour), t0.Add(4*time.Minute+30*time.Second))
	if len(s) != 5 {
		t.Fatalf("as of 10:04:30 read %v", s)
	}
	s, _, _ = collect(t, dir, cp, t0.Add(-time.Hour), time.Time{})
	if !reflect.DeepEqual(s, []uint64{6, 7, 8, 9, 10}) {
		t.Fatalf("then read %v", s)
	}
}

// TestReadFirstRunWindow: without a checkpoint only the last 24 h count.
func TestReadFirstRunWindow(t *testing.T) {
	f := newFixture(t)
	dir := f.dir
	f.add(healthy("lab-1", t0.Add(-50*time.Hour), t0.Add(-50*time.Hour+time.Minute))...)
	f.add(healthy("lab-1", t0.Add(-25*time.Hour), t0.Add(-23*time.Hour))...)
	s, _, _ := collect(t, dir, Checkpoint{}, t0.Add(-24*time.Hour), time.Time{})
	if len(s) != 60 {
		t.Fatalf("first run read %d lines; want the 60 of the last 24 h", len(s))
	}
}

// TestReadCutShorter: after a receiver crash the index day file may be
// cut below the checkpoint (lines that never became durable); the reader
// reads it again, skipping what it saw.
func TestReadCutShorter(t *testing.T) {
	f := newFixture(t)
	dir := f.dir
	f.add(healthy("lab-1", t0, t0.Add(3*time.Minute))...)
	_, cp, _ := collect(t, dir, Checkpoint{}, t0.Add(-time.Hour), time.Time{})
	p := filepath.Join(dir, FileName(t0))
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:bytes.IndexByte(b, '\n')+1], 0o644) // lines 2 and 3 were never durable
	f.seq = 1
	f.add(healthy("lab-1", t0.Add(5*time.Minute), t0.Add(7*time.Minute))...) // numbered 2 and 3 again
	var got []time.Time
	if _, _, err := (Dir{Path: dir}).Read(t.Context(), cp, t0.Add(-time.Hour), time.Time{}, func(r *Line) { got = append(got, r.TS) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Equal(t0.Add(5*time.Minute)) || !got[1].Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("after the cut read %v; want the two new lines (10:05, 10:06)", got)
	}
}

// TestReadReplayStopsAcrossFiles: a replay that stops inside one day file
// does not go on to the next, so the rest of the first is read later.
func TestReadReplayStopsAcrossFiles(t *testing.T) {
	f := newFixture(t)
	dir := f.dir
	day1 := time.Date(2026, 11, 25, 23, 50, 0, 0, time.UTC)
	f.add(healthy("lab-1", day1, day1.Add(20*time.Minute))...) // 23:50 … 00:09, two files
	s, cp, _ := collect(t, dir, Checkpoint{}, day1.Add(-time.Hour), day1.Add(5*time.Minute))
	if len(s) != 6 {
		t.Fatalf("as of 23:55 read %v", s)
	}
	s, _, _ = collect(t, dir, cp, day1.Add(-time.Hour), time.Time{})
	if len(s) != 14 || s[0] != 7 {
		t.Fatalf("then read %v; want lines 7 to 20", s)
	}
}

// After a receiver crash cut index lines and numbered the next ones anew,
// the reader reads exactly the new lines, whatever their stamps.
func TestCutRereadOutOfOrder(t *testing.T) {
	f := newFixture(t)
	dir := f.dir
	// ts is the request's start; lines go in completion order.
	f.add(put("lab-1", t0, 201, ""), put("lab-1", t0.Add(5*time.Second), 201, ""), put("lab-1", t0.Add(2*time.Second), 201, ""))
	cp, _, err := Dir{Path: dir}.Read(t.Context(), Checkpoint{}, t0.Add(-time.Hour), time.Time{}, func(*Line) {})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, FileName(t0))
	b, _ := os.ReadFile(p)
	n := bytes.IndexByte(b, '\n') + 1
	n += bytes.IndexByte(b[n:], '\n') + 1
	os.WriteFile(p, b[:n], 0o644) // line 3 never became durable
	f.seq = 2
	f.add(put("lab-1", t0.Add(10*time.Second), 201, ""), put("lab-1", t0.Add(1*time.Second), 201, ""))
	var again []string
	if _, _, err := (Dir{Path: dir}).Read(t.Context(), cp, t0.Add(-time.Hour), time.Time{}, func(r *Line) {
		again = append(again, fmt.Sprintf("seq%d@%s", r.Seq, r.TS.Format("05")))
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again) != "[seq3@10 seq4@01]" {
		t.Errorf("after the cut: read %v, want exactly the two new lines [seq3@10 seq4@01]", again)
	}
}

// TestCheckpointJSON: the checkpoint's JSON form, kept in the detector's
// state, is the one the detector wrote before the reader moved here (the
// same three lines, the same marks).
func TestCheckpointJSON(t *testing.T) {
	f := newFixture(t)
	f.add(healthy("lab-1", t0.Add(-3*time.Minute), t0)...)
	_, cp, _ := collect(t, f.dir, Checkpoint{}, t0.Add(-24*time.Hour), time.Time{})
	got, _ := json.Marshal(cp)
	want := `{"file":"2026-11-26.jsonl","offset":825,"seq":3,"ts":"2026-11-26T09:59:00Z","tail":[{"end":275,"hash":8236180370328583617},{"end":550,"hash":8443566324263412529},{"end":825,"hash":5486853859036801689}]}`
	if string(got) != want {
		t.Fatalf("checkpoint %s\nwant %s", got, want)
	}
}
