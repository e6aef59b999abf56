// Package storetest is the storage promises as one suite, run against
// every backend (the local data folder, postgres+s3): what a host and the
// detector see must not depend on where the bytes are kept.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/wire"
)

// Backend is one backend opened for a test.
type Backend struct {
	Streams store.Streams
	// Index writes lines as the receiver does; Source reads them back as
	// the detector does.
	Index interface {
		Begin(l index.Line) (groupsync.Durable, error)
	}
	Source index.Source
	// Retain applies the retention the backend was opened with, as of its
	// clock now.
	Retain func(t *testing.T)
}

// Quotas are the limits a test opens a backend with (zero: none).
type Quotas struct {
	HostBytesPerDay int64
	HostBytesTotal  int64
	HostStreams     int
	// MaxAge is the retention by age (zero: keep everything).
	MaxAge time.Duration
}

// Opener opens a fresh, empty backend whose clock is now; the test closes
// it through t.Cleanup.
type Opener func(t *testing.T, q Quotas, now func() time.Time) Backend

// Clock is a settable clock for the backend under test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// Run runs the suite against the backend open makes.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"AppendRead", testAppendRead},
		{"Retry", testRetry},
		{"Conflict", testConflict},
		{"RefusedLeavesNoStream", testRefusedLeavesNoStream},
		{"Generation", testGeneration},
		{"Quota", testQuota},
		{"TimeToOffset", testTimeToOffset},
		{"Retention", testRetention},
		{"Race", testRace},
		{"IndexSinceCheckpoint", testIndexSinceCheckpoint},
		{"Search", testSearch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// put appends and waits until the append is durable, as the receiver does
// before it answers.
func put(t *testing.T, s store.Streams, k store.Key, off int64, gen store.Gen, data string) (store.Begun, error) {
	t.Helper()
	b, err := s.Begin(t.Context(), k, off, gen, []byte(data))
	if err == nil && b.Durable != nil {
		if derr := b.Durable(t.Context()); derr != nil {
			t.Fatalf("append to %s at %d: not made durable: %v", k, off, derr)
		}
	}
	return b, err
}

func mustPut(t *testing.T, s store.Streams, k store.Key, off int64, data string) store.Begun {
	t.Helper()
	b, err := put(t, s, k, off, store.Gen{}, data)
	if err != nil {
		t.Fatalf("append %q to %s at %d: %v", data, k, off, err)
	}
	return b
}

func read(t *testing.T, s store.Streams, k store.Key, off int64, limit int) (string, store.Info) {
	t.Helper()
	b, info, err := s.Read(t.Context(), k, off, limit)
	if err != nil {
		t.Fatalf("read %s at %d: %v", k, off, err)
	}
	return string(b), info
}

func testAppendRead(t *testing.T, open Opener) {
	be := open(t, Quotas{}, NewClock(t0).Now)
	k := store.Key{Host: "lab-01", Stream: "syslog"}
	var want string
	for i, chunk := range []string{"one\n", "two two\n", "three three three\n"} {
		b := mustPut(t, be.Streams, k, int64(len(want)), chunk)
		want += chunk
		if b.Outcome != store.Appended || b.Length != int64(len(want)) || b.Appended != int64(len(chunk)) {
			t.Fatalf("append %d: %+v; want Appended, length %d, %d bytes added", i, b, len(want), len(chunk))
		}
	}
	if got, info := read(t, be.Streams, k, 0, 1<<20); got != want || info.Length != int64(len(want)) || info.Start != 0 {
		t.Fatalf("read back %q (info %+v); want %q", got, info, want)
	}
	// Reads across appends, clipped by the limit and by the end.
	for _, c := range []struct {
		off   int64
		limit int
	}{{2, 5}, {4, 100}, {11, 3}, {int64(len(want)) - 1, 10}, {int64(len(want)), 10}, {0, 0}} {
		got, _ := read(t, be.Streams, k, c.off, c.limit)
		end := min(int(c.off)+c.limit, len(want))
		if exp := want[c.off:end]; got != exp {
			t.Errorf("read at %d limit %d: %q; want %q", c.off, c.limit, got, exp)
		}
	}
	info, ok, err := be.Streams.Stat(t.Context(), k)
	if err != nil || !ok || info.Length != int64(len(want)) || info.Stream != "syslog" {
		t.Fatalf("stat: %+v %v %v; want length %d", info, ok, err, len(want))
	}
	mustPut(t, be.Streams, store.Key{Host: "lab-01", Stream: "auth"}, 0, "a\n")
	mustPut(t, be.Streams, store.Key{Host: "lab-02", Stream: "zz"}, 0, "b\n")
	list, err := be.Streams.List(t.Context(), "lab-01")
	if err != nil || len(list) != 2 || list[0].Stream != "auth" || list[1].Stream != "syslog" {
		t.Fatalf("list lab-01: %+v %v; want auth and syslog, sorted", list, err)
	}
	if _, _, err := be.Streams.Read(t.Context(), store.Key{Host: "lab-01", Stream: "nope"}, 0, 10); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read of a missing stream: %v; want ErrNotFound", err)
	}
	if _, ok, err := be.Streams.Stat(t.Context(), store.Key{Host: "lab-09", Stream: "syslog"}); ok || err != nil {
		t.Fatalf("stat of a missing stream: ok %v err %v; want not found, no error", ok, err)
	}
}

func testRetry(t *testing.T, open Opener) {
	be := open(t, Quotas{}, NewClock(t0).Now)
	k := store.Key{Host: "lab-01", Stream: "syslog"}
	mustPut(t, be.Streams, k, 0, "hello\n")
	// The same request again: nothing stored twice, 200.
	b := mustPut(t, be.Streams, k, 0, "hello\n")
	if b.Outcome != store.Duplicate || b.Length != 6 || b.Appended != 0 {
		t.Fatalf("retry: %+v; want Duplicate at length 6", b)
	}
	// A retry that overlaps and brings more: only the tail is added.
	b = mustPut(t, be.Streams, k, 3, "lo\nworld\n")
	if b.Outcome != store.Appended || b.Length != 12 || b.Appended != 6 {
		t.Fatalf("overlapping retry: %+v; want Appended 6 bytes, length 12", b)
	}
	// A retry of a part inside the stored bytes.
	if b := mustPut(t, be.Streams, k, 2, "llo\nwo"); b.Outcome != store.Duplicate || b.Length != 12 {
		t.Fatalf("retry inside: %+v; want Duplicate at 12", b)
	}
	if got, _ := read(t, be.Streams, k, 0, 100); got != "hello\nworld\n" {
		t.Fatalf("stored %q; want every byte once", got)
	}
}

func testConflict(t *testing.T, open Opener) {
	be := open(t, Quotas{}, NewClock(t0).Now)
	k := store.Key{Host: "lab-01", Stream: "syslog"}
	mustPut(t, be.Streams, k, 0, "hello\n")
	for _, c := range []struct {
		off    int64
		data   string
		reason string
	}{
		{0, "HELLO\n", wire.ReasonMismatch},
		{4, "O\nmore", wire.ReasonMismatch},
		{7, "gap\n", wire.ReasonGap},
		{-1, "x", wire.ReasonGap},
	} {
		_, err := put(t, be.Streams, k, c.off, store.Gen{}, c.data)
		var ce *store.ConflictError
		if !errors.As(err, &ce) || ce.Reason != c.reason || (c.off >= 0 && ce.Length != 6) {
			t.Errorf("put %q at %d: %v; want a %s conflict at length 6", c.data, c.off, err, c.reason)
		}
	}
	if got, _ := read(t, be.Streams, k, 0, 100); got != "hello\n" {
		t.Fatalf("stored %q after conflicts; want them to change nothing", got)
	}
}

func testRefusedLeavesNoStream(t *testing.T, open Opener) {
	be := open(t, Quotas{}, NewClock(t0).Now)
	k := store.Key{Host: "lab-01", Stream: "new"}
	if _, err := put(t, be.Streams, k, 5, store.Gen{}, "x"); err == nil {
		t.Fatal("a first append at offset 5 was taken; want a gap")
	}
	if _, err := put(t, be.Streams, k, 0, store.Gen{}, ""); err != nil {
		t.Fatalf("an empty first append: %v", err)
	}
	if _, ok, _ := be.Streams.Stat(t.Context(), k); ok {
		t.Fatal("a refused or empty first append left a stream behind")
	}
	if list, _ := be.Streams.List(t.Context(), "lab-01"); len(list) != 0 {
		t.Fatalf("list: %+v; want nothing", list)
	}
}

func testGeneration(t *testing.T, open Opener) {
	be := open(t, Quotas{}, NewClock(t0).Now)
	k := store.Key{Host: "lab-01", Stream: "syslog"}
	if _, err := put(t, be.Streams, k, 0, store.Gen{ID: "2049-1-a", Start: 0}, "first gen\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, be.Streams, k, 10, store.Gen{}, "same\n"); err != nil {
		t.Fatal(err)
	}
	info, _, _ := be.Streams.Stat(t.Context(), k)
	if info.Gen != "2049-1-a" || info.GenStart != 0 {
		t.Fatalf("after a PUT without generation: %+v; want the last generation kept", info)
	}
	if _, err := put(t, be.Streams, k, 15, store.Gen{ID: "2049-2-b", Start: 15}, "rotated\n"); err != nil {
		t.Fatal(err)
	}
	info, _, _ = be.Streams.Stat(t.Context(), k)
	if info.Gen != "2049-2-b" || info.GenStart != 15 || info.Length != 23 {
		t.Fatalf("after rotation: %+v; want generation 2049-2-b from 15, length 23", info)
	}
}

func testQuota(t *testing.T, open Opener) {
	t.Run("streams", func(t *testing.T) {
		be := open(t, Quotas{HostStreams: 2}, NewClock(t0).Now)
		mustPut(t, be.Streams, store.Key{Host: "h", Stream: "a"}, 0, "x")
		mustPut(t, be.Streams, store.Key{Host: "h", Stream: "b"}, 0, "x")
		_, err := put(t, be.Streams, store.Key{Host: "h", Stream: "c"}, 0, store.Gen{}, "x")
		var qe *store.QuotaError
		if !errors.As(err, &qe) || qe.Kind != "streams" || qe.Used != 2 || qe.Limit != 2 || qe.Reason != wire.ReasonStreams {
			t.Fatalf("a third stream: %v; want the streams quota, 2 of 2", err)
		}
		mustPut(t, be.Streams, store.Key{Host: "h", Stream: "a"}, 1, "more") // old streams still grow
		mustPut(t, be.Streams, store.Key{Host: "other", Stream: "c"}, 0, "x")
	})
	t.Run("total", func(t *testing.T) {
		be := open(t, Quotas{HostBytesTotal: 10}, NewClock(t0).Now)
		k := store.Key{Host: "h", Stream: "a"}
		mustPut(t, be.Streams, k, 0, "12345678")
		_, err := put(t, be.Streams, k, 8, store.Gen{}, "abc")
		var qe *store.QuotaError
		if !errors.As(err, &qe) || qe.Kind != "total" || qe.Used != 8 || qe.Limit != 10 {
			t.Fatalf("past the total: %v; want the total quota, 8 of 10", err)
		}
		mustPut(t, be.Streams, k, 8, "ab")
	})
	t.Run("day", func(t *testing.T) {
		clock := NewClock(t0)
		day := 2*store.AppendCost + 100
		be := open(t, Quotas{HostBytesPerDay: int64(day)}, clock.Now)
		k := store.Key{Host: "h", Stream: "a"}
		mustPut(t, be.Streams, k, 0, string(bytes.Repeat([]byte("x"), 60)))
		_, err := put(t, be.Streams, k, 60, store.Gen{}, string(bytes.Repeat([]byte("y"), 41)))
		var qe *store.QuotaError
		if !errors.As(err, &qe) || qe.Kind != "day" || qe.Used != 60+store.AppendCost {
			t.Fatalf("past the day's quota: %v; want the day quota with %d used", err, 60+store.AppendCost)
		}
		mustPut(t, be.Streams, k, 60, string(bytes.Repeat([]byte("y"), 40)))
		clock.Add(24 * time.Hour) // a new UTC day
		mustPut(t, be.Streams, k, 100, string(bytes.Repeat([]byte("z"), 90)))
	})
	t.Run("a day's refusal holds nothing", func(t *testing.T) {
		// The refused bytes count toward neither quota: the total held
		// is what was stored, on the next day too.
		clock := NewClock(t0)
		day := 2*store.AppendCost + 100
		be := open(t, Quotas{HostBytesPerDay: int64(day), HostBytesTotal: 160}, clock.Now)
		k := store.Key{Host: "h", Stream: "a"}
		mustPut(t, be.Streams, k, 0, string(bytes.Repeat([]byte("x"), 60)))
		for range 3 {
			_, err := put(t, be.Streams, k, 60, store.Gen{}, string(bytes.Repeat([]byte("y"), 41)))
			var qe *store.QuotaError
			if !errors.As(err, &qe) || qe.Kind != "day" {
				t.Fatalf("past the day's quota: %v; want the day quota", err)
			}
		}
		clock.Add(24 * time.Hour)
		mustPut(t, be.Streams, k, 60, string(bytes.Repeat([]byte("z"), 90)))
		mustPut(t, be.Streams, k, 150, "0123456789") // 160 of 160
		_, err := put(t, be.Streams, k, 160, store.Gen{}, "!")
		var qe *store.QuotaError
		if !errors.As(err, &qe) || qe.Kind != "total" || qe.Used != 160 {
			t.Fatalf("past the total: %v; want the total quota, 160 of 160", err)
		}
	})
}

func testTimeToOffset(t *testing.T, open Opener) {
	clock := NewClock(t0)
	be := open(t, Quotas{}, clock.Now)
	k := store.Key{Host: "lab-01", Stream: "syslog"}
	var offs []int64
	var off int64
	for i := range 5 {
		offs = append(offs, off)
		off = mustPut(t, be.Streams, k, off, fmt.Sprintf("minute %d\n", i)).Length
		clock.Add(time.Minute)
	}
	for _, c := range []struct {
		at   time.Time
		want int64
	}{
		{t0.Add(-time.Hour), 0},
		{t0, offs[0]},
		{t0.Add(90 * time.Second), offs[2]},
		{t0.Add(4 * time.Minute), offs[4]},
		{t0.Add(time.Hour), off},
	} {
		got, err := be.Streams.OffsetAt(t.Context(), k, c.at)
		if err != nil || got != c.want {
			t.Errorf("offset at %s: %d %v; want %d", c.at.Format(time.TimeOnly), got, err, c.want)
		}
	}
	if _, err := be.Streams.OffsetAt(t.Context(), store.Key{Host: "lab-01", Stream: "nope"}, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("offset in a missing stream: %v; want ErrNotFound", err)
	}
}

// testRace sends many hosts' appends at once, and two writers at the same
// offset of one stream: exactly one wins each offset.
func testRace(t *testing.T, open Opener) {
	be := open(t, Quotas{}, NewClock(t0).Now)
	const hosts, appends = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, hosts*2)
	for h := range hosts {
		wg.Go(func() {
			k := store.Key{Host: fmt.Sprintf("lab-%02d", h), Stream: "syslog"}
			var off int64
			for i := range appends {
				b, err := put(t, be.Streams, k, off, store.Gen{}, fmt.Sprintf("%s line %d\n", k.Host, i))
				if err != nil {
					errs <- err
					return
				}
				off = b.Length
			}
		})
	}
	// Two writers race on one stream, offset by offset, with different bytes.
	k := store.Key{Host: "lab-race", Stream: "syslog"}
	wins := make([]int, 2)
	var mu sync.Mutex
	for w := range 2 {
		wg.Go(func() {
			for i := range appends {
				off := int64(i * 8)
				b, err := put(t, be.Streams, k, off, store.Gen{}, fmt.Sprintf("w%d %04d\n", w, i))
				var ce *store.ConflictError
				switch {
				case err == nil && b.Outcome == store.Appended:
					mu.Lock()
					wins[w]++
					mu.Unlock()
				case errors.As(err, &ce):
				default:
					errs <- fmt.Errorf("racer %d at %d: %+v %v", w, off, b, err)
					return
				}
				// Wait until the offset is taken, by either writer.
				for {
					info, ok, _ := be.Streams.Stat(context.WithoutCancel(t.Context()), k)
					if ok && info.Length >= off+8 {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for h := range hosts {
		k := store.Key{Host: fmt.Sprintf("lab-%02d", h), Stream: "syslog"}
		var want string
		for i := range appends {
			want += fmt.Sprintf("%s line %d\n", k.Host, i)
		}
		if got, _ := read(t, be.Streams, k, 0, 1<<20); got != want {
			t.Errorf("%s holds %q; want its lines once, in order", k, got)
		}
	}
	if wins[0]+wins[1] != appends {
		t.Fatalf("the racers won %d and %d offsets; want %d in all, each once", wins[0], wins[1], appends)
	}
	if got, info := read(t, be.Streams, k, 0, 1<<20); info.Length != appends*8 || len(got) != appends*8 {
		t.Fatalf("the raced stream holds %d bytes; want %d", len(got), appends*8)
	}
}

func testIndexSinceCheckpoint(t *testing.T, open Opener) {
	be := open(t, Quotas{}, NewClock(t0).Now)
	// write writes n lines, each durable before the next is written when
	// inOrder, else all at once (whose order a database backend may
	// commit differently: the reader then only promises each once).
	write := func(from, n int, inOrder bool) {
		t.Helper()
		var waits []groupsync.Durable
		for i := from; i < from+n; i++ {
			d, err := be.Index.Begin(index.Line{TS: t0.Add(time.Duration(i) * time.Second), Host: fmt.Sprintf("lab-%02d", i%3), Method: "PUT",
				Endpoint: "logs", Status: 201, Auth: true, Bytes: int64(i)})
			if err != nil {
				t.Fatal(err)
			}
			if inOrder {
				if err := d(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			waits = append(waits, d)
		}
		for _, d := range waits {
			if err := d(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	readAll := func(cp index.Checkpoint, since, until time.Time) (index.Checkpoint, []int64) {
		t.Helper()
		var got []int64
		cp, _, err := be.Source.Read(t.Context(), cp, since, until, func(l *index.Line) { got = append(got, l.Bytes) })
		if err != nil {
			t.Fatal(err)
		}
		return cp, got
	}
	write(0, 10, true)
	cp, got := readAll(index.Checkpoint{}, t0.Add(3*time.Second), t0.Add(7*time.Second))
	if fmt.Sprint(got) != "[3 4 5 6 7]" {
		t.Fatalf("lines from 3 s to 7 s: %v; want 3..7", got)
	}
	write(10, 5, true)
	cp, got = readAll(cp, time.Time{}, time.Time{})
	if fmt.Sprint(got) != "[8 9 10 11 12 13 14]" {
		t.Fatalf("lines after the checkpoint: %v; want 8..14, each once", got)
	}
	if _, got = readAll(cp, time.Time{}, time.Time{}); len(got) != 0 {
		t.Fatalf("read again from the checkpoint: %v; want nothing new", got)
	}
	// A line the index holds is one the reader sees; a concurrent writer
	// never makes it skip one (lines written while others are read).
	var wg sync.WaitGroup
	wg.Go(func() { write(15, 200, false) })
	seen := map[int64]int{}
	deadline := time.Now().Add(time.Minute)
	for done := false; !done; {
		if time.Now().After(deadline) {
			t.Fatalf("after a minute the reader has seen %d of 200 lines", len(seen))
		}
		var batch []int64
		cp, batch = readAll(cp, time.Time{}, time.Time{})
		for _, b := range batch {
			seen[b]++
		}
		done = len(seen) == 200
		if !done {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	for i := int64(15); i < 215; i++ {
		if seen[i] != 1 {
			t.Fatalf("line %d was read %d times; want once", i, seen[i])
		}
	}
}

// testRetention stores an append an hour for ten hours and keeps 4.5
// hours: the oldest appends go (the local store drops whole segments, so
// it may keep a little more), the stream's start moves up, and what is
// kept reads back whole; offsets are never reused.
func testRetention(t *testing.T, open Opener) {
	clock := NewClock(t0)
	be := open(t, Quotas{MaxAge: 4*time.Hour + 30*time.Minute}, clock.Now)
	k := store.Key{Host: "lab-01", Stream: "syslog"}
	var all string
	for i := range 10 {
		chunk := fmt.Sprintf("%02d %s\n", i, bytes.Repeat([]byte{'a' + byte(i)}, 96))
		mustPut(t, be.Streams, k, int64(len(all)), chunk)
		all += chunk
		clock.Add(time.Hour)
	}
	clock.Add(-time.Hour) // now: the last append's hour
	be.Retain(t)
	info, _, err := be.Streams.Stat(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	// Appends 0..4 are older than 4.5 h; 5..9 are not and must stay.
	if info.Start <= 0 || info.Start > 500 || info.Start%100 != 0 || info.Length != 1000 {
		t.Fatalf("after retention: start %d length %d; want the oldest appends dropped (start 100..500) and the length kept", info.Start, info.Length)
	}
	got, rinfo := read(t, be.Streams, k, 0, 1<<20)
	if got != all[info.Start:] || rinfo.Start != info.Start {
		t.Fatalf("read from 0 after retention: %d bytes from %d; want the kept %d from the start", len(got), rinfo.Start, len(all)-int(info.Start))
	}
	if off, err := be.Streams.OffsetAt(t.Context(), k, t0); err != nil || off != info.Start {
		t.Fatalf("offset at the first hour: %d %v; want the new start %d", off, err, info.Start)
	}
	_, err = put(t, be.Streams, k, 0, store.Gen{}, all[:100])
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Reason != wire.ReasonBeforeStart || ce.Start != info.Start {
		t.Fatalf("a retry of a dropped append: %v; want a before-start conflict naming start %d", err, info.Start)
	}
	mustPut(t, be.Streams, k, 1000, "after\n") // the stream goes on
}
