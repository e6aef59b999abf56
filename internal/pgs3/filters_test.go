package pgs3_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/search"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/storetest"
)

// A search reads pgs3 blocks into its workers' buffers.
var _ search.IntoReader = (*pgs3.Streams)(nil)

// hidden hides a Streams' filters: the reference search scans it all.
type hidden struct{ *pgs3.Streams }

func (hidden) Filters() {}

// TestSearchFiltersShared: the maintainer builds search filters for the
// bytes old enough, by stream offsets; a search skips by them and finds
// what a full scan finds; retention drops the filters of the bytes it
// drops.
func TestSearchFiltersShared(t *testing.T) {
	dsn, s3 := servers(t)
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3), Now: clock, BuildFilter: search.FilterOf})
	st := b.Streams()
	rng := rand.New(rand.NewPCG(9, 9))
	words := strings.Fields("sshd accepted publickey for student from port session opened closed cron job")
	var planted int
	for h := range 3 {
		k := store.Key{Host: fmt.Sprintf("lab-%d", h), Stream: "syslog"}
		// lab-0's stream spans more than one of the maintainer's reads.
		size := 3 << 20
		if h == 0 {
			size = 9 << 20
		}
		var text strings.Builder
		for text.Len() < size {
			for j := range 8 {
				if j > 0 {
					text.WriteByte(' ')
				}
				text.WriteString(words[rng.IntN(len(words))])
			}
			fmt.Fprintf(&text, " id %x", rng.Uint64())
			if rng.IntN(5000) == 0 {
				text.WriteString(" kernel: Out of memory: Killed process")
				planted++
			}
			text.WriteByte('\n')
		}
		data := []byte(text.String())
		// Appends of 200 KiB, a minute apart, cut anywhere.
		var off int64
		for off < int64(len(data)) {
			end := min(int64(len(data)), off+200<<10)
			if _, err := store.Append(t.Context(), st, k, off, store.Gen{}, data[off:end]); err != nil {
				t.Fatal(err)
			}
			off = end
			now = now.Add(time.Minute)
		}
	}
	if planted == 0 {
		t.Fatal("nothing planted")
	}
	later := now.Add(2 * time.Hour)
	m, err := b.Maintain(t.Context(), pgs3.Retention{}, later, time.Minute)
	if err != nil || !m.Held || m.Filters < 9 {
		t.Fatalf("maintain: %+v %v; want the filters of 3 streams of 3 to 9 MiB built", m, err)
	}
	// A host's filters in one query are its streams' one by one, each
	// knowing whether its block ends a line.
	for h := range 3 {
		host := fmt.Sprintf("lab-%d", h)
		byHost, ok, err := st.HostFilters(t.Context(), host, 64)
		if err != nil || !ok {
			t.Fatalf("%s's filters: %v %v", host, ok, err)
		}
		byKey, err := st.Filters(t.Context(), store.Key{Host: host, Stream: "syslog"}, 0, 1<<40)
		if err != nil || len(byKey) < 12 || len(byHost) != 1 || !slices.EqualFunc(byHost["syslog"], byKey, func(a, b store.Filter) bool {
			return a.From == b.From && a.To == b.To && string(a.Data) == string(b.Data) && a.Edge == b.Edge && a.Edge != store.EdgeUnknown
		}) {
			t.Fatalf("%s: %d filters of the host's streams, %d of its stream (%v); want the same, at least 12", host, len(byHost["syslog"]), len(byKey), err)
		}
		if _, ok, err := st.HostFilters(t.Context(), host, len(byKey)-1); err != nil || ok {
			t.Fatalf("%s's filters, one fewer allowed than it has: %v %v; want refused", host, ok, err)
		}
	}
	for _, pattern := range []string{"out of memory", "student", "nowhere"} {
		want, _ := storetest.Grep(t, hidden{st}, search.Query{Pattern: pattern, IgnoreCase: true})
		got, sum := storetest.Grep(t, st, search.Query{Pattern: pattern, IgnoreCase: true})
		if !slices.Equal(got, want) {
			t.Fatalf("%q: with filters found %d lines, scanning all %d", pattern, len(got), len(want))
		}
		switch pattern {
		case "out of memory":
			if len(got) != planted || sum.BytesSkipped == 0 {
				t.Fatalf("%q: %d lines (want %d), %d bytes skipped", pattern, len(got), planted, sum.BytesSkipped)
			}
		case "nowhere":
			if sum.BytesScanned > sum.BytesSkipped/10 {
				t.Fatalf("%q: %d bytes scanned, %d skipped; want nearly all skipped", pattern, sum.BytesScanned, sum.BytesSkipped)
			}
		}
	}
	// A second pass finds nothing more to build.
	if m, err := b.Maintain(t.Context(), pgs3.Retention{}, later, time.Minute); err != nil || m.Filters != 0 {
		t.Fatalf("a second maintenance built %d filters (%v); want none", m.Filters, err)
	}

	// Retention takes the first hour of bytes, and their filters.
	if _, err := b.Maintain(t.Context(), pgs3.Retention{MaxAge: later.Sub(t0.Add(10 * time.Minute))}, later, time.Minute); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var stale int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM stream_filters f JOIN streams s USING (host, stream) WHERE f.to_off <= s.start`).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	if stale != 0 {
		t.Fatalf("%d filters of bytes retention dropped are left", stale)
	}
	want, _ := storetest.Grep(t, hidden{st}, search.Query{Pattern: "out of memory", IgnoreCase: true})
	if got, _ := storetest.Grep(t, st, search.Query{Pattern: "out of memory", IgnoreCase: true}); !slices.Equal(got, want) {
		t.Fatalf("after retention: with filters %d lines, scanning all %d", len(got), len(want))
	}
}

// TestSearchFilterOpenTail: a quiet stream that ends inside a line gets a
// filter for that line as it stands, so a search fetches nothing of it;
// once the line goes on, the search reads it again and finds the words
// that came, until the maintainer builds the block anew.
func TestSearchFilterOpenTail(t *testing.T) {
	dsn, s3 := servers(t)
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3), Now: clock, BuildFilter: search.FilterOf})
	st := b.Streams()
	k := store.Key{Host: "lab-1", Stream: "syslog"}
	var length int64
	appendText := func(s string) {
		t.Helper()
		if _, err := store.Append(t.Context(), st, k, length, store.Gen{}, []byte(s)); err != nil {
			t.Fatal(err)
		}
		length += int64(len(s))
		now = now.Add(time.Minute)
	}
	grep := func(pattern string) ([]string, search.Summary) {
		t.Helper()
		want, _ := storetest.Grep(t, hidden{st}, search.Query{Pattern: pattern})
		got, sum := storetest.Grep(t, st, search.Query{Pattern: pattern})
		if !slices.Equal(got, want) {
			t.Fatalf("%q: with filters %q, scanning all %q", pattern, got, want)
		}
		return got, sum
	}
	maintain := func() pgs3.Maintained {
		t.Helper()
		now = now.Add(2 * time.Hour) // quiet for longer than an hour
		m, err := b.Maintain(t.Context(), pgs3.Retention{}, now, time.Minute)
		if err != nil || !m.Held {
			t.Fatalf("maintain: %+v %v", m, err)
		}
		return m
	}
	appendText("sshd: session opened for student\nkernel: Out of mem")
	if m := maintain(); m.Filters != 2 {
		t.Fatalf("built %d filters; want the closed lines' and the open line's", m.Filters)
	}
	if m := maintain(); m.Filters != 0 {
		t.Fatalf("a second pass built %d filters; want none (the open line's is up to date)", m.Filters)
	}
	if got, sum := grep("nowhere"); len(got) != 0 || sum.BytesScanned != 0 || sum.BytesSkipped != length {
		t.Fatalf("a word nowhere: %q, %d bytes scanned, %d skipped; want all %d skipped", got, sum.BytesScanned, sum.BytesSkipped, length)
	}
	if got, _ := grep("mem"); len(got) != 1 {
		t.Fatalf("the open line's last word: %q; want the open line", got)
	}
	// The line goes on: its new words are found, its filter left aside.
	appendText("ory: Killed process 4242\n")
	got, sum := grep("memory")
	if len(got) != 1 || !strings.HasSuffix(got[0], "kernel: Out of memory: Killed process 4242") || sum.BytesScanned == 0 {
		t.Fatalf("after the open line ended: %q (%d bytes scanned); want it found", got, sum.BytesScanned)
	}
	if m := maintain(); m.Filters == 0 {
		t.Fatal("no filter built for the line that ended")
	}
	if got, _ := grep("memory"); len(got) != 1 {
		t.Fatalf("after the maintainer caught up: %q; want the line that ended", got)
	}
	if _, sum := grep("nowhere"); sum.BytesScanned != 0 {
		t.Fatalf("a word nowhere after the maintainer caught up: %d bytes scanned; want none", sum.BytesScanned)
	}
}
