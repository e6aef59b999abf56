package pgs3_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/store"
)

// TestReadAgainstAppends holds Read and ReadInto, one statement for the
// stream's row and its extents, to the bytes appended: at offsets before
// the start (retention moved it, inside an extent or at its edge), on
// extent edges, at and past the length, with limits of 0, negative, 1,
// to the length and far past it.
func TestReadAgainstAppends(t *testing.T) {
	dsn, s3 := servers(t)
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	st := b.Streams()
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(4, 90))
	key := store.Key{Host: "lab-1", Stream: "syslog"}
	var all []byte
	var edges []int64 // where each append began
	for range 7 {
		n := 1 + rng.IntN(3000)
		if rng.IntN(4) == 0 {
			n = 1
		}
		data := make([]byte, n)
		for i := range data {
			data[i] = byte('a' + rng.IntN(26))
		}
		edges = append(edges, int64(len(all)))
		if _, err := store.Append(ctx, st, key, int64(len(all)), store.Gen{}, data); err != nil {
			t.Fatal(err)
		}
		all = append(all, data...)
	}
	length := int64(len(all))
	edges = append(edges, length)

	if _, _, err := st.Read(ctx, store.Key{Host: "lab-1", Stream: "nope"}, 0, 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("read of an unknown stream: %v; want ErrNotFound", err)
	}
	if _, _, err := st.ReadInto(ctx, store.Key{Host: "lab-9", Stream: "syslog"}, 0, make([]byte, 10)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("read into of an unknown stream: %v; want ErrNotFound", err)
	}

	check := func(start int64) {
		t.Helper()
		offsets := []int64{0, 1, start - 1, start, start + 1, length - 1, length, length + 1, length + 1000, math.MaxInt64 - 1, math.MaxInt64}
		for _, e := range edges {
			offsets = append(offsets, e-1, e, e+1)
		}
		for range 6 {
			offsets = append(offsets, rng.Int64N(length+2))
		}
		limits := []int{-1, 0, 1, 2, 7, 1000, int(length), int(length) + 1, 1 << 20, math.MaxInt}
		for _, off := range offsets {
			if off < 0 {
				continue
			}
			for _, lim := range limits {
				from := max(off, start)
				var want []byte
				if from < length && lim > 0 {
					want = all[from:min(length, from+int64(min(lim, math.MaxInt32)))]
				}
				what := fmt.Sprintf("start %d: Read(%d, %d)", start, off, lim)
				got, info, err := st.Read(ctx, key, off, lim)
				if err != nil {
					t.Errorf("%s: %v", what, err)
					continue
				}
				if info.Start != start || info.Length != length || info.Stream != key.Stream {
					t.Errorf("%s: info %+v; want start %d, length %d", what, info, start, length)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes, not the %d appended there", what, len(got), len(want))
				}
				// ReadInto: the same bytes, none written past them.
				if lim < 0 || lim > 1<<16 {
					continue
				}
				buf := bytes.Repeat([]byte{'#'}, lim+8)
				n, info, err := st.ReadInto(ctx, key, off, buf[:lim])
				if err != nil {
					t.Errorf("%s into: %v", what, err)
					continue
				}
				if info.Start != start || info.Length != length {
					t.Errorf("%s into: info %+v", what, info)
				}
				if !bytes.Equal(buf[:n], want) {
					t.Errorf("%s into: %d bytes, not the %d appended there", what, n, len(want))
				}
				if bytes.Count(buf[n:], []byte{'#'}) != len(buf)-n {
					t.Errorf("%s into: wrote past the %d bytes read", what, n)
				}
			}
		}
	}
	check(0)
	// Retention inside an extent, on an extent's edge, at the length.
	for _, start := range []int64{edges[2] + 1, edges[5], edges[5] + 3, length - 1, length} {
		if err := st.MoveStart(ctx, key, start); err != nil {
			t.Fatal(err)
		}
		check(start)
	}
	// Past the length: empty from there on.
	if err := st.MoveStart(ctx, key, length+10); err != nil {
		t.Fatal(err)
	}
	got, info, err := st.Read(ctx, key, 0, 100)
	if err != nil || len(got) != 0 || info.Start != length+10 || info.Length != length+10 {
		t.Errorf("stream moved past its length: %q %+v %v", got, info, err)
	}

	// A stream made empty at a start, no extent at all.
	empty := store.Key{Host: "lab-2", Stream: "auth"}
	if err := st.CreateAt(ctx, empty, 500); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 499, 500, 501, math.MaxInt64} {
		for _, lim := range []int{-1, 0, 1, 1 << 20, math.MaxInt} {
			got, info, err := st.Read(ctx, empty, off, lim)
			if err != nil || len(got) != 0 || info.Start != 500 || info.Length != 500 {
				t.Errorf("empty stream: Read(%d, %d) = %q %+v %v", off, lim, got, info, err)
			}
		}
	}
}
