package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/search"
	"github.com/cis490/cis490/internal/store"
)

// testSearch: a fleet-wide search finds the lines that match on every
// host, across appends that cut lines anywhere, within a time window, each
// with the time its bytes came; a limited search continued from its cursor
// finds each line once.
func testSearch(t *testing.T, open Opener) {
	clock := NewClock(t0)
	be := open(t, Quotas{}, clock.Now)
	src, ok := be.Streams.(search.Source)
	if !ok {
		t.Fatalf("%T is not a search.Source", be.Streams)
	}
	type want struct {
		host, stream, line string
		at                 time.Time
	}
	var planted []want
	for h := range 3 {
		for _, stream := range []string{"syslog", "app.log"} {
			k := store.Key{Host: fmt.Sprintf("lab-%02d", h), Stream: stream}
			var text strings.Builder
			for i := range 40 {
				line := fmt.Sprintf("%s %s line %d: all is well", k.Host, stream, i)
				if i%7 == 3 {
					line = fmt.Sprintf("%s kernel: Out of memory: killed process %d", k.Host, 1000+i)
				}
				text.WriteString(line + "\n")
			}
			// Appends of 97 bytes, a minute apart: lines and words cut
			// anywhere.
			b := []byte(text.String())
			var off int64
			for off < int64(len(b)) {
				end := min(int64(len(b)), off+97)
				off = mustPut(t, be.Streams, k, off, string(b[off:end])).Length
				clock.Add(time.Minute)
			}
			lineOff := int64(0)
			for _, line := range strings.SplitAfter(text.String(), "\n") {
				if strings.Contains(line, "Out of memory") {
					// The line's first byte came with the append holding it.
					at := t0.Add(time.Duration(lineOff/97) * time.Minute)
					planted = append(planted, want{k.Host, k.Stream, strings.TrimSuffix(line, "\n"), at})
				}
				lineOff += int64(len(line))
			}
			clock.Add(-time.Duration((len(b)+96)/97) * time.Minute) // every stream over the same minutes
		}
	}
	m, err := search.Compile(search.Query{Pattern: "out of memory", IgnoreCase: true})
	if err != nil {
		t.Fatal(err)
	}
	run := func(req search.Request) ([]search.Result, search.Summary) {
		t.Helper()
		req.Matcher = m
		var got []search.Result
		sum, err := search.Run(t.Context(), src, req, func(r search.Result) error {
			got = append(got, r)
			return nil
		})
		if err != nil {
			t.Fatalf("search %+v: %v", req, err)
		}
		return got, sum
	}
	got, sum := run(search.Request{})
	if len(got) != len(planted) || sum.Hits != int64(len(planted)) || sum.Limited {
		t.Fatalf("found %d lines (summary %+v); want the %d planted", len(got), sum, len(planted))
	}
	for _, r := range got {
		i := slices.IndexFunc(planted, func(w want) bool { return w.host == r.Host && w.stream == r.Stream && w.line == r.Line })
		if i < 0 {
			t.Fatalf("found %+v, not a planted line", r)
		}
		if !r.Time.Equal(planted[i].at) {
			t.Errorf("%s/%s %q: time %s; want %s, when its first byte came", r.Host, r.Stream, r.Line, r.Time, planted[i].at)
		}
		data, _, err := be.Streams.Read(t.Context(), store.Key{Host: r.Host, Stream: r.Stream}, r.Offset, len(r.Line))
		if err != nil || string(data) != r.Line {
			t.Errorf("the line at %s/%s %d reads %q (%v); want %q", r.Host, r.Stream, r.Offset, data, err, r.Line)
		}
	}

	// Globs and a window.
	got, _ = run(search.Request{Hosts: "lab-0[12]", Streams: "sys*", Since: t0.Add(10 * time.Minute), Until: t0.Add(20 * time.Minute)})
	var wantN int
	for _, w := range planted {
		if (w.host == "lab-01" || w.host == "lab-02") && w.stream == "syslog" && !w.at.Before(t0.Add(10*time.Minute)) && w.at.Before(t0.Add(20*time.Minute)) {
			wantN++
		}
	}
	if len(got) != wantN || wantN == 0 {
		t.Fatalf("lab-0[12]/sys* in minutes 10 to 20: %d lines; want %d", len(got), wantN)
	}

	// Pages of 4, each continuing from the last cursor.
	var paged []search.Result
	cur := ""
	for page := 0; ; page++ {
		if page > len(planted) {
			t.Fatal("paging does not end")
		}
		got, sum := run(search.Request{Limit: 4, Cursor: cur})
		paged = append(paged, got...)
		if !sum.Limited {
			break
		}
		if sum.Cursor == "" || len(got) != 4 {
			t.Fatalf("a limited page: %d hits, summary %+v; want 4 and a cursor", len(got), sum)
		}
		cur = sum.Cursor
	}
	all, _ := run(search.Request{})
	if !slices.Equal(paged, all) {
		t.Fatalf("pages of 4 found %d lines; want the same %d as one search", len(paged), len(all))
	}
	if _, sum := run(search.Request{Count: true}); sum.Hits != int64(len(planted)) {
		t.Fatalf("count: %d; want %d", sum.Hits, len(planted))
	}
}

// Grep runs q over src, as the receiver's search does, and returns each
// hit as "host/stream@offset line", with the summary.
func Grep(t *testing.T, src search.Source, q search.Query) ([]string, search.Summary) {
	t.Helper()
	m, err := search.Compile(q)
	if err != nil {
		t.Fatal(err)
	}
	var hits []string
	sum, err := search.Run(t.Context(), src, search.Request{Matcher: m}, func(r search.Result) error {
		hits = append(hits, fmt.Sprintf("%s/%s@%d %s", r.Host, r.Stream, r.Offset, r.Line))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits, sum
}
