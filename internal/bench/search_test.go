package bench

import (
	"strings"
	"testing"
	"time"
)

// TestRunSearch: bench search over a small fleet finds what it looks for,
// its filters skip for a rare word and not for a common one, ingest is
// measured alone, while searching and at an offered load, and the report
// has a row for every search.
func TestRunSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a store and runs ingest for seconds")
	}
	rep, err := RunSearch(t.Context(), SearchOptions{Hosts: 12, Bytes: 24 << 20, Runs: 1, RG: "none", IngestFor: 500 * time.Millisecond, Dir: t.TempDir()})
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
	var out strings.Builder
	FormatSearch(&out, rep)
	for _, want := range []string{"| rare word |", "| common word |", "| regex with a literal |", "ingest offered at"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}
