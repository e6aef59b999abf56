package receiverd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/store"
)

func writeReqs(t *testing.T, stg *Storage, from, n int, offs map[string]int64, day time.Time) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < from+n; i++ {
		key := store.Key{Host: fmt.Sprintf("h%d", i%3), Stream: "syslog"}
		data := fmt.Sprintf("request %06d: the quick brown fox jumps over the lazy dog\n", i)
		b, err := stg.Store.Begin(t.Context(), key, offs[key.Host], store.Gen{ID: "g"}, []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		offs[key.Host] = b.Length
		l := index.Line{TS: day.Add(time.Duration(i) * time.Second), Host: key.Host, Instance: fmt.Sprintf("req-%d", i), Method: "PUT", Endpoint: "logs", Status: 201, Stream: key.Stream}
		d, err := stg.Index.Begin(l)
		if err != nil || d(ctx) != nil || b.Durable(ctx) != nil {
			t.Fatalf("request %d not acknowledged: %v", i, err)
		}
	}
}

func indexLines(t *testing.T, dir string) (map[string]int, error) {
	seen := map[string]int{}
	var last uint64
	var order error
	_, _, err := index.Dir{Path: datadir.Dir(dir).Index()}.Read(t.Context(), index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) {
		if l.Seq != last+1 && order == nil {
			order = fmt.Errorf("line %d follows line %d", l.Seq, last)
		}
		last = l.Seq
		seen[l.Instance]++
	})
	if err == nil {
		err = order
	}
	return seen, err
}

// A data folder from before index files (no .idx, no synced.json) is
// opened and closed by the new code: its sealed segments get index files
// (once without a sync mark, found in review). One index file later found
// damaged must not make recovery hand that segment's journal entries to
// the index alone: it would cut every later acknowledged line as missing
// from the journal.
func TestDamagedIndexAfterMigrationKeepsLines(t *testing.T) {
	dir := t.TempDir()
	day := time.Now().UTC().Truncate(24 * time.Hour)
	opt := store.Options{SegmentSize: 4096}
	stg, err := OpenStorage(dir, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	offs := map[string]int64{}
	const n = 200
	writeReqs(t, stg, 0, n, offs, day)
	if err := stg.Close(); err != nil {
		t.Fatal(err)
	}
	// Make it look like the old code's folder: no index files, no mark.
	logs := datadir.Dir(dir).Logs()
	idxs, _ := filepath.Glob(filepath.Join(logs, "seg-*.idx"))
	for _, f := range idxs {
		os.Remove(f)
	}
	os.Remove(filepath.Join(datadir.Dir(dir).Index(), "synced.json"))

	// First start of the new code, then a clean stop.
	stg, err = OpenStorage(dir, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := stg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(datadir.Dir(dir).Index(), "synced.json")); err == nil {
		t.Log("a sync mark exists")
	} else {
		t.Log("no sync mark after the new code indexed every segment")
	}
	idxs, _ = filepath.Glob(filepath.Join(logs, "seg-*.idx"))
	if len(idxs) < 3 {
		t.Fatalf("only %d index files", len(idxs))
	}
	// Bit rot in the first segment's index table.
	name := filepath.Join(logs, "seg-0000000000000001.idx")
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b[60] ^= 0x5a
	os.WriteFile(name, b, 0o640)

	stg, err = OpenStorage(dir, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stg.Close()
	seen, err := indexLines(t, dir)
	if err != nil {
		t.Errorf("index: %v", err)
	}
	lost := 0
	for i := range n {
		if seen[fmt.Sprintf("req-%d", i)] != 1 {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged requests lost their index line", lost, n)
	}
}
