package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// The index.

// indexFile is what readIndex found.
type indexFile struct {
	lines    int
	keys     map[string]int    // ledgerKey of each line
	status   map[string]int    // "METHOD endpoint status" -> count
	noStatus map[string]string // ledgerKey -> the same with status 0 (the ledger's lost key)
}

func newIndexFile() indexFile {
	return indexFile{keys: map[string]int{}, status: map[string]int{}, noStatus: map[string]string{}}
}

// add counts one line.
func (ix *indexFile) add(remote, method, endpoint, host, stream string, status int, bytes int64) {
	ix.lines++
	k := ledgerKey(remote, method, host, stream, status, bytes)
	ix.keys[k]++
	ix.noStatus[k] = ledgerKey(remote, method, host, stream, 0, bytes)
	ix.status[fmt.Sprintf("%s %s %d", method, endpoint, status)]++
}

// indexKeys are the keys SPEC "The index" promises on every line.
var indexKeys = []string{"ts", "host", "auth", "cert_host", "method", "endpoint", "status", "bytes", "commit", "instance", "reason", "remote", "dur_ms"}

// readIndex parses every line of every index file in dataDir. With
// allowTorn a last line without its newline is skipped (and reported);
// otherwise it is an error, as is any line that is not a contract line.
func readIndex(t *testing.T, dataDir string, allowTorn bool) indexFile {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dataDir, "index", "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no index files in %s", filepath.Join(dataDir, "index"))
	}
	sort.Strings(files)
	ix := newIndexFile()
	bad := 0
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			cut := bytes.LastIndexByte(b, '\n') + 1
			if !allowTorn || len(b)-cut > 64<<10 {
				t.Errorf("index %s ends in a torn line (%d bytes without a newline): %q", filepath.Base(path), len(b)-cut, clip(b[cut:], 120))
			}
			b = b[:cut]
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for lineNo := 1; sc.Scan(); lineNo++ {
			var m map[string]json.RawMessage
			var l struct {
				TS       string  `json:"ts"`
				Host     string  `json:"host"`
				Method   string  `json:"method"`
				Endpoint string  `json:"endpoint"`
				Status   int     `json:"status"`
				Bytes    int64   `json:"bytes"`
				Remote   string  `json:"remote"`
				Stream   string  `json:"stream"`
				DurMS    float64 `json:"dur_ms"`
			}
			err := json.Unmarshal(sc.Bytes(), &m)
			if err == nil {
				err = json.Unmarshal(sc.Bytes(), &l)
			}
			if err == nil {
				for _, k := range indexKeys {
					if _, ok := m[k]; !ok {
						err = fmt.Errorf("no %q key", k)
						break
					}
				}
			}
			if err == nil {
				if _, perr := time.Parse(time.RFC3339Nano, l.TS); perr != nil || !strings.HasSuffix(l.TS, "Z") {
					err = fmt.Errorf("ts %q is not RFC 3339 UTC", l.TS)
				}
			}
			if err != nil {
				ix.lines++
				if bad++; bad <= 5 {
					t.Errorf("index %s line %d does not parse (%v): %q", filepath.Base(path), lineNo, err, clip(sc.Bytes(), 200))
				}
				continue
			}
			ix.add(l.Remote, l.Method, l.Endpoint, l.Host, l.Stream, l.Status, l.Bytes)
		}
		if err := sc.Err(); err != nil {
			t.Errorf("read index %s: %v", path, err)
		}
	}
	return ix
}

// checkLedger compares the requests sent with the index lines: every
// answered request has its line (exact=false), and with exact also every
// line describes a request that was answered, or one whose answer was lost
// (the receiver may have handled it before it died).
func checkLedger(t *testing.T, led ledgerView, ix indexFile, exact bool) {
	t.Helper()
	var missing, extra []string
	for k, n := range led.answered {
		if ix.keys[k] < n {
			missing = append(missing, fmt.Sprintf("%s (answered %d, index %d)", k, n, ix.keys[k]))
		}
	}
	if exact {
		lost := maps.Clone(led.lost)
		keys := slices.Sorted(maps.Keys(ix.keys))
		for _, k := range keys {
			excess := ix.keys[k] - led.answered[k]
			covered := min(max(excess, 0), lost[ix.noStatus[k]])
			lost[ix.noStatus[k]] -= covered
			if excess > covered {
				extra = append(extra, fmt.Sprintf("%s (answered %d, lost %d, index %d)", k, led.answered[k], covered, ix.keys[k]))
			}
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("%d answered request(s) have no index line, e.g. %s", len(missing), strings.Join(missing[:min(5, len(missing))], "; "))
	}
	if len(extra) > 0 {
		t.Errorf("%d index line(s) describe requests that got no answer, e.g. %s", len(extra), strings.Join(extra[:min(5, len(extra))], "; "))
	}
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
