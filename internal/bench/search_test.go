package bench

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/testenv"
)

// TestRunSearch: bench search over a small fleet finds what it looks for,
// its filters skip for a rare word and not for a common one, ingest is
// measured alone, while searching and at an offered load, every append it
// counts written (not a duplicate of an earlier run's), and the report
// has a row for every search.
func TestRunSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a store and runs ingest for seconds")
	}
	const ingestFor = 500 * time.Millisecond
	rep, err := RunSearch(t.Context(), SearchOptions{Hosts: 12, Bytes: 24 << 20, Runs: 1, RG: "none", IngestFor: ingestFor, Dir: t.TempDir(), Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DataBytes < 20<<20 || rep.FilterBytes == 0 {
		t.Errorf("%d bytes of logs, %d of filters; want about 24 MiB and some filters", rep.DataBytes, rep.FilterBytes)
	}
	byName := map[string]SearchQuery{}
	for _, q := range rep.Queries {
		byName[q.Name] = q
		if q.Warm <= 0 || q.WithHits <= 0 || q.RGWarm != 0 {
			t.Errorf("%s: warm %s, with hits %s, rg %s; want times for cis490 and none for rg (skipped)", q.Name, q.Warm, q.WithHits, q.RGWarm)
		}
	}
	common, rare := byName["common word"], byName["rare word"]
	if common.Hits < 10000 || common.Skipped != 0 {
		t.Errorf("common word: %d hits, %d bytes skipped; want many hits and every block scanned", common.Hits, common.Skipped)
	}
	if rare.Skipped < rare.Scanned {
		t.Errorf("rare word: %d bytes skipped, %d scanned; want most skipped", rare.Skipped, rare.Scanned)
	}
	if rep.IngestAlone <= 0 || rep.IngestSearched <= 0 || rep.Offered <= 0 || rep.OfferedAlone.Rate <= 0 || rep.OfferedSearch.Searches == 0 {
		t.Errorf("ingest: alone %.0f/s, searching %.0f/s, offered %.0f/s, achieved %.0f/s alone, %d searches at the offered load; want all measured",
			rep.IngestAlone, rep.IngestSearched, rep.Offered, rep.OfferedAlone.Rate, rep.OfferedSearch.Searches)
	}
	// With ingestPairs of 3, the lowest, median and highest are every run
	// alone and paced: each append counted is in the store, not taken as
	// a duplicate of an earlier run's. A writer's append cut off by the
	// run's end may be written and not counted.
	if ingestPairs != 3 {
		t.Fatalf("ingestPairs %d: the runs below are not every run", ingestPairs)
	}
	const runs, writers = 2*ingestPairs + 3, 32 // and unpaced, offered alone and paced
	var counted int64
	for _, rate := range []float64{rep.IngestAloneRange[0], rep.IngestAlone, rep.IngestAloneRange[1],
		rep.IngestSearchedRange[0], rep.IngestSearched, rep.IngestSearchedRange[1], rep.IngestUnpaced, rep.OfferedAlone.Rate, rep.OfferedSearch.Rate} {
		counted += int64(math.Round(rate * ingestFor.Seconds()))
	}
	st, closeStore, err := openSearchStore(filepath.Join(rep.Dir, "logs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var written int64
	appendBytes := int64(len(ingestAppend))
	for w := range writers {
		infos, err := st.List(t.Context(), fmt.Sprintf("ingest-%02d", w))
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range infos {
			written += in.Length - in.Start
		}
	}
	closeStore()
	if written < counted*appendBytes || written > (counted+runs*writers)*appendBytes {
		t.Errorf("ingest: %d appends counted, %d bytes (%d appends) in the store; want each counted append written", counted, written, written/appendBytes)
	}
	var out strings.Builder
	FormatSearch(&out, rep)
	// The runs' spread is printed beside their medians.
	spread := func(lohi [2]float64) string { return fmt.Sprintf("%.0f–%.0f", lohi[0], lohi[1]) }
	for _, want := range []string{"| rare word |", "| common word |", "| regex with a literal |", "ingest, 32 writers", "ingest offered at",
		spread(rep.IngestAloneRange), spread(rep.IngestSearchedRange)} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRunSearchPGS3: bench search with both backends (postgres+s3 on the
// tests' shared PostgreSQL and versitygw) finds on postgres+s3 what it
// finds on local in the same generated logs, skips by the maintainer's
// filters for a rare word, fetches every byte of a common one from S3,
// and reports both with their ratio.
func TestRunSearchPGS3(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a store, loads postgres+s3 and runs ingest for seconds")
	}
	testenv.Require(t, testenv.PostgreSQL())
	s3 := testenv.S3Server(t)
	dsn := testenv.Postgres(t)
	rep, err := RunSearch(t.Context(), SearchOptions{Hosts: 8, Bytes: 16 << 20, Runs: 1, RG: "none", IngestFor: 200 * time.Millisecond, Dir: t.TempDir(),
		Backend: SearchBoth, PGS3: &PGS3Storage{DSN: dsn, S3: s3}})
	if err != nil {
		t.Fatal(err)
	}
	pg := rep.PG
	if pg == nil || pg.DataBytes != rep.DataBytes || pg.FilterBlocks == 0 || pg.Objects == 0 || pg.Unfiltered > 64<<10 {
		t.Fatalf("postgres+s3: %+v; want the same %d bytes as local, in objects, nearly all under filters", pg, rep.DataBytes)
	}
	if len(pg.Queries) != len(rep.Queries) {
		t.Fatalf("%d searches on postgres+s3, %d on local", len(pg.Queries), len(rep.Queries))
	}
	byName := map[string]SearchQuery{}
	for i, q := range pg.Queries {
		byName[q.Name] = q
		if l := rep.Queries[i]; q.Name != l.Name || q.Hits != l.Hits {
			t.Errorf("%s: %d hits on postgres+s3, %s %d on local; want the same", q.Name, q.Hits, l.Name, l.Hits)
		}
		// A search that finds nothing may fetch nothing: every block's
		// filter, the streams' open last lines' too, can rule it out.
		if q.Warm <= 0 || q.WithHits <= 0 || q.Hits > 0 && q.GETs == 0 || q.Cold != 0 {
			t.Errorf("%s on postgres+s3: %d hits, warm %s, with hits %s, %d GETs, cold %s; want times, GETs for the hits and no cold", q.Name, q.Hits, q.Warm, q.WithHits, q.GETs, q.Cold)
		}
	}
	common, rare := byName["common word"], byName["rare word"]
	// Only open last lines without the word can be skipped.
	if common.Hits < 10000 || common.Skipped > common.Scanned/1000 || common.Fetched < common.Scanned {
		t.Errorf("common word on postgres+s3: %d hits, %d bytes skipped, %d scanned, %d fetched; want many hits, nearly every block fetched", common.Hits, common.Skipped, common.Scanned, common.Fetched)
	}
	if rare.Skipped < 4*rare.Scanned || rare.Fetched*4 > common.Fetched || rare.BlocksSkipped == 0 {
		t.Errorf("rare word on postgres+s3: %d bytes skipped, %d scanned, %d fetched (common word %d); want most skipped and not fetched",
			rare.Skipped, rare.Scanned, rare.Fetched, common.Fetched)
	}
	var out strings.Builder
	FormatSearch(&out, rep)
	t.Log("\n" + out.String())
	for _, want := range []string{"| rare word |", "ingest offered at", "pgs3 / local", fmt.Sprintf("| common word | %d (%d) |", common.Hits, common.Hits)} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
	// With pgs3 alone, postgres+s3's table only.
	out.Reset()
	FormatSearch(&out, &SearchReport{Backend: SearchPGS3, Hosts: rep.Hosts, PG: pg})
	if s := out.String(); strings.Contains(s, "ingest,") || strings.Contains(s, "rg -c") || !strings.Contains(s, "| search | hits | pgs3 warm") {
		t.Errorf("the report of pgs3 alone:\n%s", s)
	}
}
