package fleethealth

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
)

// collect reads the index from cp and returns the seqs handed on.
func collect(t *testing.T, dir string, cp Checkpoint, since, until time.Time) ([]uint64, Checkpoint, ReadStats) {
	t.Helper()
	var seqs []uint64
	cp, st, err := readIndex(t.Context(), dir, cp, since, until, func(r *Rec) { seqs = append(seqs, r.Seq) })
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
	dir := datadir.Dir(f.data).Index()
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
	today := index.FileName(day1.Add(5 * time.Minute))
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
	os.Remove(filepath.Join(dir, index.FileName(day1)))
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
	dir := datadir.Dir(f.data).Index()
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
	dir := datadir.Dir(f.data).Index()
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
	dir := datadir.Dir(f.data).Index()
	f.add(healthy("lab-1", t0, t0.Add(3*time.Minute))...)
	_, cp, _ := collect(t, dir, Checkpoint{}, t0.Add(-time.Hour), time.Time{})
	p := filepath.Join(dir, index.FileName(t0))
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:bytes.IndexByte(b, '\n')+1], 0o644) // lines 2 and 3 were never durable
	f.seq = 1
	f.add(healthy("lab-1", t0.Add(5*time.Minute), t0.Add(7*time.Minute))...) // numbered 2 and 3 again
	var got []time.Time
	if _, _, err := readIndex(t.Context(), dir, cp, t0.Add(-time.Hour), time.Time{}, func(r *Rec) { got = append(got, r.TS) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Equal(t0.Add(5*time.Minute)) || !got[1].Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("after the cut read %v; want the two new lines (10:05, 10:06)", got)
	}
}

// TestUnreadableIndex: no index folder is an error (the run could not
// run), not an empty fleet.
func TestUnreadableIndex(t *testing.T) {
	f := newFixture(t)
	os.RemoveAll(datadir.Dir(f.data).Index())
	if _, err := Run(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Now: t0}); err == nil {
		t.Fatal("a run without an index folder succeeded")
	}
}

// FuzzParseLine: the fast path reads exactly what encoding/json reads.
func FuzzParseLine(f *testing.F) {
	for _, l := range []index.Line{
		put("lab-1", t0, 201, ""),
		heartbeat("elliott-thinkpad", t0.Add(time.Millisecond), "sleep"),
		{TS: t0, Host: "", Method: "GET", Endpoint: "other", Status: 404, Reason: "bad-name", Remote: "[::1]:5", DurMS: 0.25},
	} {
		b, _ := l.MarshalJSON()
		f.Add(b)
	}
	f.Add([]byte(`{"ts":"2026-11-26T10:00:00Z","host":"a\u0041","status":1e2}`))
	f.Add([]byte(`{"ts":"2026-11-26T10:00:00Z","x":{"y":[1,2]},"auth":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Rec
		if fastParse(b, &fast) != nil {
			return
		}
		var l index.Line
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatalf("fast path read %q, encoding/json refuses it: %v", b, err)
		}
		slow := Rec{TS: l.TS.UTC(), Host: l.Host, Auth: l.Auth, CertHost: l.CertHost, Admin: l.Admin, Method: l.Method,
			Endpoint: l.Endpoint, Status: l.Status, Commit: l.Commit, Instance: l.Instance, Reason: l.Reason,
			State: l.State, Gate: l.Gate, Seq: l.Seq, CertExpires: l.CertExpires}
		if !fast.TS.Equal(slow.TS) {
			t.Fatalf("ts: fast %v, slow %v", fast.TS, slow.TS)
		}
		fast.TS, slow.TS = time.Time{}, time.Time{}
		if fast != slow {
			t.Fatalf("%q:\nfast %+v\nslow %+v", b, fast, slow)
		}
	})
}

// TestReadReplayStopsAcrossFiles: a replay that stops inside one day file
// does not go on to the next, so the rest of the first is read later.
func TestReadReplayStopsAcrossFiles(t *testing.T) {
	f := newFixture(t)
	dir := datadir.Dir(f.data).Index()
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
