package index

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// sequential never takes the parallel path; parallelTune takes it for any
// read, in pieces of chunk bytes.
var sequential = parTune{min: math.MaxInt64}

func parallelTune(chunk, workers int) parTune {
	return parTune{chunk: chunk, min: 1, workers: workers}
}

// readAll is one Read through tune: the lines handed on (copied), the
// checkpoint and the stats.
type readAll struct {
	Lines []Line
	CP    Checkpoint
	St    ReadStats
	Err   error
}

func readWith(ctx context.Context, dir string, tune parTune, cp Checkpoint, since, until time.Time) readAll {
	var r readAll
	r.CP, r.St, r.Err = Dir{Path: dir, tune: tune}.Read(ctx, cp, since, until, func(l *Line) { r.Lines = append(r.Lines, *l) })
	return r
}

// messyIndex writes day files around t0 with what a real index may hold
// besides the writer's lines: garbage, empty lines, lines longer than any
// parsed (and one exactly as long as the longest parsed), lines
// encoding/json must read, an older file whose last line a crash cut,
// and (if torn) a newest file whose last line is being written.
func messyIndex(t testing.TB, dir string, rng *rand.Rand, n int, torn bool) {
	t.Helper()
	var seq uint64
	files := map[string]*bytes.Buffer{}
	var names []string
	for i := range n {
		ts := t0.Add(-26*time.Hour + time.Duration(i)*(28*time.Hour)/time.Duration(n))
		name := FileName(ts)
		w := files[name]
		if w == nil {
			w = &bytes.Buffer{}
			files[name] = w
			names = append(names, name)
		}
		switch k := rng.IntN(100); {
		case k < 3:
			w.WriteString("not json at all\n")
		case k < 5:
			w.WriteString("\n")
		case k < 7:
			fmt.Fprintf(w, "{\"ts\":%q, \"host\":\"lab-\\u0031\",\"extra\":[1,2]}\n", ts.Format(time.RFC3339Nano))
		case k < 8 && n > 100 && rng.IntN(8) == 0: // a few: each is over a megabyte
			size := longLine - 1 + rng.IntN(3) // 1 under, at, 1 over the longest parsed, with the newline
			pad := max(size-1-len(`{"ts":"2026-11-26T10:00:00.000Z","pad":""}`), 0)
			fmt.Fprintf(w, "{\"ts\":%q,\"pad\":\"%s\"}\n", ts.Format(TimeFormat), bytes.Repeat([]byte("x"), pad))
		default:
			seq++
			host := fmt.Sprintf("lab-%d", rng.IntN(20))
			l := put(host, ts, []int{201, 201, 201, 429, 503}[rng.IntN(5)], "")
			l.Seq = seq
			w.Write(append(appendLine(nil, &l), '\n'))
		}
	}
	if len(names) > 1 {
		// An older file cut short by a crash: its last line never ends.
		old := files[names[0]]
		old.Truncate(old.Len() - 1 - rng.IntN(40))
	}
	if torn {
		last := files[names[len(names)-1]]
		l := put("lab-torn", t0.Add(3*time.Hour), 201, "")
		b := appendLine(nil, &l)
		last.Write(b[:rng.IntN(len(b))])
	}
	for name, w := range files {
		if err := os.WriteFile(filepath.Join(dir, name), w.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestParallelReadMatchesSequential: the parallel path hands on the same
// lines, in the same order, with the same checkpoint and stats as the
// sequential one — for a first read, a replay stopping mid-file, and
// reads resumed from each other's checkpoints — whatever the pieces'
// size, so with line boundaries, long lines and torn lines anywhere.
func TestParallelReadMatchesSequential(t *testing.T) {
	for i, tc := range []struct {
		lines int
		torn  bool
	}{{0, false}, {1, true}, {40, false}, {40, true}, {3000, true}, {3000, false}} {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		dir := t.TempDir()
		messyIndex(t, dir, rng, tc.lines, tc.torn)
		since := t0.Add(-24 * time.Hour)
		for _, until := range []time.Time{{}, t0.Add(-25 * time.Hour), t0.Add(-90 * time.Minute), t0.Add(time.Hour)} {
			want := readWith(t.Context(), dir, sequential, Checkpoint{}, since, until)
			if want.Err != nil {
				t.Fatal(want.Err)
			}
			if tc.lines > 100 && until.IsZero() && (len(want.Lines) == 0 || want.St.Malformed == 0) {
				t.Fatalf("the fixture is not messy: %d lines, %+v", len(want.Lines), want.St)
			}
			wantNext := readWith(t.Context(), dir, sequential, want.CP, since, time.Time{})
			for _, chunk := range []int{1, 7, 100, 377, 4096, 1 << 20} {
				if chunk < 100 && tc.lines > 100 {
					continue // a piece a byte or so: slow, and the small files have the same boundaries
				}
				for _, workers := range []int{1, 2, 3} {
					name := fmt.Sprintf("%d lines, until %s, chunk %d, %d workers", tc.lines, until.Format(time.Kitchen), chunk, workers)
					got := readWith(t.Context(), dir, parallelTune(chunk, workers), Checkpoint{}, since, until)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s: parallel read differs:\n got %d lines, %+v, %+v\nwant %d lines, %+v, %+v",
							name, len(got.Lines), got.CP, got.St, len(want.Lines), want.CP, want.St)
					}
					// Resumed from the checkpoint, by either path.
					if next := readWith(t.Context(), dir, parallelTune(chunk, workers), want.CP, since, time.Time{}); !reflect.DeepEqual(next, wantNext) {
						t.Fatalf("%s: parallel read from the checkpoint differs", name)
					}
				}
			}
		}
	}
}

// FuzzParallelRead: any bytes in a day file read the same by both paths.
func FuzzParallelRead(f *testing.F) {
	l := put("lab-1", t0, 201, "")
	line := append(appendLine(nil, &l), '\n')
	f.Add(append(append([]byte{}, line...), line[:30]...), uint16(5), false)
	f.Add([]byte("\n\nx\n{\"ts\":\"2026-11-26T10:00:00Z\"}\n"), uint16(1), true)
	early := put("lab-1", t0.Add(-2*time.Hour), 201, "")
	f.Add(append(appendLine(nil, &early), "\n{\"ts\":\"2026-11-26T07:00:00.000Z\",x\n"...), uint16(9), false)
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16, newest bool) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, FileName(t0)), data, 0o644)
		if !newest {
			os.WriteFile(filepath.Join(dir, FileName(t0.Add(24*time.Hour))), nil, 0o644)
		}
		since := t0.Add(-time.Hour)
		want := readWith(t.Context(), dir, sequential, Checkpoint{}, since, time.Time{})
		got := readWith(t.Context(), dir, parallelTune(int(chunk)%512+1, 2), Checkpoint{}, since, time.Time{})
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parallel %+v\nsequential %+v", got, want)
		}
		// And as a read that parses the lines before since too.
		all := sequential
		all.readEarly = true
		parsed := readWith(t.Context(), dir, all, Checkpoint{}, since, time.Time{})
		if !reflect.DeepEqual(got.Lines, parsed.Lines) || !reflect.DeepEqual(got.CP, parsed.CP) || got.St.Lines != parsed.St.Lines {
			t.Fatalf("skipping the early lines %+v\nparsing them %+v", got, parsed)
		}
	})
}

// TestParallelReadEndsItsGoroutines: a read that stops early (a replay's
// until), is cancelled by its caller mid-file, or whose context is done
// before it starts, leaves no goroutine behind.
func TestParallelReadEndsItsGoroutines(t *testing.T) {
	dir := t.TempDir()
	messyIndex(t, dir, rand.New(rand.NewPCG(1, 2)), 5000, false)
	since := t0.Add(-24 * time.Hour)
	tune := parallelTune(512, 3)
	before := runtime.NumGoroutine()
	check := func(what string) {
		t.Helper()
		// Read has waited for its goroutines' last deferred call, but
		// one may not have quite exited yet: give them a moment.
		for range 100 {
			if runtime.NumGoroutine() <= before {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s: %d goroutines after the read, %d before", what, runtime.NumGoroutine(), before)
	}
	full := readWith(t.Context(), dir, tune, Checkpoint{}, since, time.Time{})
	check("a full read")
	stop := readWith(t.Context(), dir, tune, Checkpoint{}, since, t0.Add(-10*time.Hour))
	if len(stop.Lines) == 0 || len(stop.Lines) >= len(full.Lines) {
		t.Fatalf("the replay read %d of %d lines", len(stop.Lines), len(full.Lines))
	}
	check("a replay stopping mid-file")

	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	_, _, err := Dir{Path: dir, tune: tune}.Read(ctx, Checkpoint{}, since, time.Time{}, func(*Line) {
		if n++; n == 100 {
			cancel()
		}
	})
	if err == nil || n >= len(full.Lines) {
		t.Fatalf("cancelled after 100 lines: read %d of %d, err %v", n, len(full.Lines), err)
	}
	check("a read cancelled mid-file")
	if r := readWith(ctx, dir, tune, Checkpoint{}, since, time.Time{}); r.Err == nil || len(r.Lines) != 0 {
		t.Fatalf("a read with its context done read %d lines, err %v", len(r.Lines), r.Err)
	}
	check("a read cancelled before it started")
}

// TestFirstReadSkipsEarlyLines: a first read that skips the lines
// stamped before since unparsed hands on the same lines, with the same
// checkpoint, as one that parses them; only malformed lines among the
// skipped ones go uncounted. Both paths, since anywhere in the files.
func TestFirstReadSkipsEarlyLines(t *testing.T) {
	dir := t.TempDir()
	messyIndex(t, dir, rand.New(rand.NewPCG(3, 4)), 3000, true)
	for _, since := range []time.Time{t0.Add(-30 * time.Hour), t0.Add(-24 * time.Hour), t0.Add(-10*time.Hour - 123456789), t0, t0.Add(3 * time.Hour)} {
		for _, tune := range []parTune{sequential, parallelTune(4096, 2)} {
			all := tune
			all.readEarly = true
			want := readWith(t.Context(), dir, all, Checkpoint{}, since, time.Time{})
			got := readWith(t.Context(), dir, tune, Checkpoint{}, since, time.Time{})
			if got.Err != nil || want.Err != nil {
				t.Fatal(got.Err, want.Err)
			}
			if !reflect.DeepEqual(got.Lines, want.Lines) || !reflect.DeepEqual(got.CP, want.CP) || got.St.Lines != want.St.Lines || got.St.Malformed > want.St.Malformed {
				t.Fatalf("since %s, %+v: skipping read %d lines, %+v, %+v; parsing %d, %+v, %+v",
					since, tune, len(got.Lines), got.CP, got.St, len(want.Lines), want.CP, want.St)
			}
		}
	}
}

// TestStampedBefore: only a line in the writer's form, stamped earlier,
// is early.
func TestStampedBefore(t *testing.T) {
	early := []byte("2026-11-26T10:00:00.000Z")
	for line, want := range map[string]bool{
		`{"ts":"2026-11-26T09:59:59.999Z","host":"a"}`: true,
		`{"ts":"2025-12-31T23:59:59.999Z"}`:            true,
		`{"ts":"2026-11-26T09:59:59.999Z"`:             true, // the rest is not read
		`{"ts":"2026-11-26T10:00:00.000Z","host":"a"}`: false,
		`{"ts":"2026-11-26T10:00:00.001Z","host":"a"}`: false,
		`{"ts":"2026-11-26T09:59:59Z","host":"a"}`:     false, // another form: parsed
		`{"ts":"2026-11-26T09:59:59.99xZ","host":"a"}`: false,
		`{"ts":"2026-11-26 09:59:59.999Z","host":"a"}`: false,
		`{ "ts":"2026-11-26T09:59:59.999Z"}`:           false,
		`{"host":"a","ts":"2026-11-26T09:59:59.999Z"}`: false,
		`{"ts":"2026-11-26T09:59:59.999Z`:              false,
	} {
		if got := stampedBefore([]byte(line), early); got != want {
			t.Errorf("stampedBefore(%s) = %v", line, got)
		}
	}
	if stampedBefore([]byte(`{"ts":"2026-11-26T09:59:59.999Z"}`), nil) {
		t.Error("early with no bound")
	}
}
