package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/search"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/storetest"
)

func openFiltered(t *testing.T, dir string, opt store.Options) *store.Store {
	t.Helper()
	g := groupsync.New()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	opt.Dir, opt.Sync, opt.BuildFilter = dir, g, search.FilterOf
	s, err := store.Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		cancel()
		<-done
	})
	return s
}

// unfiltered hides a store's filters: the reference search scans all.
type unfiltered struct{ *store.Store }

func (unfiltered) Filters() {}

// filterFiles lists the filter files in dir.
func filterFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.flt"))
	return m
}

// waitFilters waits until every segment but the active one has its
// filter file.
func waitFilters(t *testing.T, dir string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		logs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
		if len(logs) > 1 && len(filterFiles(t, dir)) == len(logs)-1 {
			return
		}
	}
	t.Fatalf("the sealed segments did not get their filter files: %d of them", len(filterFiles(t, dir)))
}

// TestSearchFilters: sealed segments get search filter files, built in
// the background; a search that uses them skips the blocks without the
// words and finds exactly what a full scan finds, lines cut by appends
// and segments included. A damaged filter file is ignored (the blocks are
// scanned), removed and built again; retention deletes filters with their
// segments.
func TestSearchFilters(t *testing.T) {
	dir := t.TempDir()
	opt := store.Options{SegmentSize: 256 << 10}
	s := openFiltered(t, dir, opt)
	rng := rand.New(rand.NewPCG(4, 2))
	words := strings.Fields("sshd accepted publickey for student from port session opened closed cron job started systemd unit")
	lens := map[store.Key]int64{}
	ctx := t.Context()
	var planted int
	for i := range 6000 {
		k := store.Key{Host: fmt.Sprintf("lab-%02d", i%12), Stream: "syslog"}
		var b strings.Builder
		for range 1 + rng.IntN(4) {
			for j := range 4 + rng.IntN(8) {
				if j > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(words[rng.IntN(len(words))])
			}
			if rng.IntN(900) == 0 {
				b.WriteString(" kernel: Out of memory: Killed process")
				planted++
			}
			b.WriteByte('\n')
		}
		// Appends cut lines anywhere: keep a line's tail for the next.
		data := b.String()
		cut := len(data) - rng.IntN(min(len(data), 12))
		if _, err := store.Append(ctx, s, k, lens[k], store.Gen{}, []byte(data[:cut])); err != nil {
			t.Fatal(err)
		}
		lens[k] += int64(cut)
		if _, err := store.Append(ctx, s, k, lens[k], store.Gen{}, []byte(data[cut:])); err != nil {
			t.Fatal(err)
		}
		lens[k] += int64(len(data) - cut)
	}
	if planted == 0 {
		t.Fatal("nothing planted")
	}
	waitFilters(t, dir)

	for _, q := range []search.Query{
		{Pattern: "out of memory", IgnoreCase: true},
		{Pattern: "Killed process"},
		{Pattern: "student"},
		{Pattern: "nowhere at all"},
	} {
		want, full := storetest.Grep(t, unfiltered{s}, q)
		got, sum := storetest.Grep(t, s, q)
		if !slices.Equal(got, want) {
			t.Fatalf("%+v: with filters found %d lines, scanning all %d", q, len(got), len(want))
		}
		if full.BlocksSkipped != 0 {
			t.Fatalf("the reference search skipped %d blocks", full.BlocksSkipped)
		}
		switch q.Pattern {
		case "out of memory":
			if len(got) != planted {
				t.Fatalf("found %d planted lines; want %d", len(got), planted)
			}
			if sum.BytesSkipped < sum.BytesScanned {
				t.Errorf("a rare phrase: %d bytes skipped, %d scanned; want most skipped", sum.BytesSkipped, sum.BytesScanned)
			}
		case "student":
			if sum.BlocksSkipped != 0 {
				t.Errorf("a common word: %d blocks skipped; want none", sum.BlocksSkipped)
			}
		case "nowhere at all":
			if sum.BlocksSkipped == 0 {
				t.Errorf("no line holds it, yet no block was skipped: %+v", sum)
			}
		}
	}

	// Damage one filter file: after a restart the search scans its
	// blocks, and the file is built again.
	flts := filterFiles(t, dir)
	victim := flts[len(flts)/2]
	b, _ := os.ReadFile(victim)
	b[20] ^= 0xff
	os.WriteFile(victim, b, 0o640)
	s.Close()
	s = openFiltered(t, dir, opt)
	q := search.Query{Pattern: "out of memory", IgnoreCase: true}
	if got, _ := storetest.Grep(t, s, q); len(got) != planted {
		t.Fatalf("with a damaged filter file found %d lines; want %d", len(got), planted)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if nb, err := os.ReadFile(victim); err == nil && nb[20] == b[20]^0xff {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the damaged filter file was not built again")
		}
	}
	if _, sum := storetest.Grep(t, s, q); sum.BlocksSkipped == 0 {
		t.Fatal("after the rebuild no block was skipped")
	}
}

// TestFiltersGoWithTheirSegments: retention deletes a segment's filter
// file with it, and a filter file left without its segment is removed at
// start-up.
func TestFiltersGoWithTheirSegments(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := openFiltered(t, dir, store.Options{SegmentSize: 64 << 10, MaxAge: time.Hour, Now: clock})
	k := store.Key{Host: "lab-1", Stream: "syslog"}
	var off int64
	for i := range 400 {
		line := fmt.Sprintf("line %d of the old day, padded %s\n", i, strings.Repeat("x", 400))
		if _, err := store.Append(t.Context(), s, k, off, store.Gen{}, []byte(line)); err != nil {
			t.Fatal(err)
		}
		off += int64(len(line))
	}
	waitFilters(t, dir)
	before := len(filterFiles(t, dir))
	now = now.Add(2 * time.Hour)
	if _, err := store.Append(t.Context(), s, k, off, store.Gen{}, []byte("a new day\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Retain(); err != nil {
		t.Fatal(err)
	}
	for _, f := range filterFiles(t, dir) {
		seg := strings.TrimSuffix(f, ".flt") + ".log"
		if _, err := os.Stat(seg); err != nil {
			t.Errorf("%s outlived its segment", filepath.Base(f))
		}
	}
	if after := len(filterFiles(t, dir)); after >= before {
		t.Fatalf("retention dropped old segments but %d of %d filter files are left", after, before)
	}
	orphan := filepath.Join(dir, "seg-00000000000000999999.flt")
	os.WriteFile(orphan, []byte("c49f"), 0o640)
	s.Close()
	openFiltered(t, dir, store.Options{SegmentSize: 64 << 10, MaxAge: time.Hour, Now: clock})
	if _, err := os.Stat(orphan); err == nil {
		t.Fatal("a filter file without its segment survived a start")
	}
}

// TestFilterBuiltBeforeTheNextLine: a block that ends at a newline gets
// its filter while nothing follows it yet; the line appended later starts
// right after the block and is a whole line of its own, so skipping the
// block must not drop it.
func TestFilterBuiltBeforeTheNextLine(t *testing.T) {
	dir := t.TempDir()
	s := openFiltered(t, dir, store.Options{SegmentSize: 64 << 10})
	quiet := store.Key{Host: "lab-1", Stream: "syslog"}
	busy := store.Key{Host: "lab-2", Stream: "syslog"}
	ctx := t.Context()
	first := "quiet start\n"
	if _, err := store.Append(ctx, s, quiet, 0, store.Gen{}, []byte(first)); err != nil {
		t.Fatal(err)
	}
	var off int64
	for i := range 400 {
		line := fmt.Sprintf("filler %d %s\n", i, strings.Repeat("x", 400))
		if _, err := store.Append(ctx, s, busy, off, store.Gen{}, []byte(line)); err != nil {
			t.Fatal(err)
		}
		off += int64(len(line))
	}
	waitFilters(t, dir)
	if _, err := store.Append(ctx, s, quiet, int64(len(first)), store.Gen{}, []byte("kernel: Out of memory\n")); err != nil {
		t.Fatal(err)
	}
	q := search.Query{Pattern: "out of memory", IgnoreCase: true}
	want, _ := storetest.Grep(t, unfiltered{s}, q)
	got, sum := storetest.Grep(t, s, q)
	if len(want) != 1 || !slices.Equal(got, want) {
		t.Fatalf("with filters found %q (%d blocks skipped); scanning all %q", got, sum.BlocksSkipped, want)
	}
}
