package crashfs

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"slices"
	"testing"
)

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{DropUnsynced: "DropUnsynced", TearUnsynced: "TearUnsynced", GarbageTail: "GarbageTail", Mode(7): "Mode(7)"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(m), got, want)
		}
	}
	r := newRand(seed(t))
	seen := map[Mode]bool{}
	for range 300 {
		seen[RandomMode(r)] = true
	}
	if len(seen) != 3 {
		t.Errorf("RandomMode gave %v, want all three modes", slices.Collect(maps.Keys(seen)))
	}
}

func TestSyncedSurvivesEveryMode(t *testing.T) {
	r := newRand(seed(t))
	for _, mode := range allModes {
		for i := range 50 {
			fsys := New(newRand(r.Uint64()))
			fsys.MkdirAll("d", 0o755)
			data := pattern(r.IntN(3000), 'a')
			create(t, fsys, "d/f", data, true, true)
			fsys.Crash(mode)
			if got := readFile(t, fsys, "d/f"); !bytes.Equal(got, data) {
				t.Fatalf("%v #%d: synced file of %d bytes came back as %d bytes", mode, i, len(data), len(got))
			}
			// And a second crash with nothing written changes nothing.
			fsys.Crash(RandomMode(r))
			if got := readFile(t, fsys, "d/f"); !bytes.Equal(got, data) {
				t.Fatalf("%v #%d: second crash changed the file", mode, i)
			}
		}
	}
}

func TestUnsyncedDropped(t *testing.T) {
	fsys := New(newRand(1))
	create(t, fsys, "f", []byte("synced"), true, true)
	f, _ := fsys.OpenFile("f", os.O_RDWR, 0)
	f.WriteAt([]byte("SYN"), 0)
	f.Write([]byte("more"))
	f.WriteAt([]byte("tail"), 100)
	fsys.Crash(DropUnsynced)
	if got := readFile(t, fsys, "f"); string(got) != "synced" {
		t.Errorf("after DropUnsynced: %q, want %q", got, "synced")
	}

	// A file never synced comes back empty even though its name is durable.
	create(t, fsys, "g", []byte("never synced"), false, true)
	fsys.Crash(DropUnsynced)
	if got := readFile(t, fsys, "g"); len(got) != 0 {
		t.Errorf("unsynced file after DropUnsynced: %q, want empty", got)
	}
}

func TestTearUnsyncedTail(t *testing.T) {
	r := newRand(seed(t))
	durable := pattern(700, 'a')
	unsynced := pattern(2000, 'A')
	var partial, aligned, none, all int
	for range 300 {
		fsys := New(newRand(r.Uint64()))
		create(t, fsys, "f", durable, true, true)
		f, _ := fsys.OpenFile("f", os.O_WRONLY|os.O_APPEND, 0)
		f.Write(unsynced)
		fsys.Crash(TearUnsynced)
		got := readFile(t, fsys, "f")
		if !bytes.HasPrefix(got, durable) {
			t.Fatal("durable prefix damaged")
		}
		tail := got[len(durable):]
		if !bytes.HasPrefix(unsynced, tail) {
			t.Fatalf("surviving tail of %d bytes is not a prefix of the unsynced data", len(tail))
		}
		switch len(tail) {
		case 0:
			none++
		case len(unsynced):
			all++
		default:
			partial++
			if len(got)%SectorSize == 0 {
				aligned++
			}
		}
	}
	t.Logf("tail survived: none %d, partially %d (%d up to a sector boundary), fully %d", none, partial, aligned, all)
	if none == 0 || partial == 0 || aligned == 0 || all == 0 {
		t.Error("want every kind of tear: none, partial, at a sector boundary, all")
	}
}

func TestTearUnsyncedOverwriteBySector(t *testing.T) {
	r := newRand(seed(t))
	const size = 3*SectorSize + 100
	old, new := bytes.Repeat([]byte("o"), size), bytes.Repeat([]byte("n"), size)
	seen := map[string]bool{}
	for range 200 {
		fsys := New(newRand(r.Uint64()))
		create(t, fsys, "f", old, true, true)
		f, _ := fsys.OpenFile("f", os.O_RDWR, 0)
		f.WriteAt(new, 0)
		fsys.Crash(TearUnsynced)
		got := readFile(t, fsys, "f")
		if len(got) != size {
			t.Fatalf("size %d, want %d", len(got), size)
		}
		var shape []byte
		for s := 0; s < size; s += SectorSize {
			sec := got[s:min(s+SectorSize, size)]
			switch {
			case bytes.Equal(sec, old[:len(sec)]):
				shape = append(shape, 'o')
			case bytes.Equal(sec, new[:len(sec)]):
				shape = append(shape, 'n')
			default:
				t.Fatalf("sector at %d is a mix: %q", s, sec)
			}
		}
		seen[string(shape)] = true
	}
	if len(seen) < 8 {
		t.Errorf("saw only sector patterns %q; want a random subset of the 4 sectors to revert", slices.Sorted(maps.Keys(seen)))
	}

	// Unchanged sectors never change, even when a neighbour is rewritten.
	for range 50 {
		fsys := New(newRand(r.Uint64()))
		create(t, fsys, "f", old, true, true)
		f, _ := fsys.OpenFile("f", os.O_RDWR, 0)
		f.WriteAt([]byte("n"), SectorSize+3)
		fsys.Crash(GarbageTail)
		got := readFile(t, fsys, "f")
		if !bytes.Equal(got[:SectorSize], old[:SectorSize]) || !bytes.Equal(got[2*SectorSize:], old[2*SectorSize:]) {
			t.Fatal("an untouched sector changed")
		}
	}
}

func TestUnsyncedShrink(t *testing.T) {
	r := newRand(seed(t))
	data := pattern(100, 'a')
	sizes := map[int]int{}
	for _, mode := range allModes {
		for range 50 {
			fsys := New(newRand(r.Uint64()))
			create(t, fsys, "f", data, true, true)
			f, _ := fsys.OpenFile("f", os.O_RDWR, 0)
			f.Truncate(10)
			fsys.Crash(mode)
			got := readFile(t, fsys, "f")
			if !bytes.Equal(got, data[:len(got)]) || (len(got) != 10 && len(got) != 100) {
				t.Fatalf("%v: got %d bytes %q", mode, len(got), got)
			}
			if mode == DropUnsynced && len(got) != 100 {
				t.Fatal("DropUnsynced kept an unsynced truncate")
			}
			if mode == TearUnsynced {
				sizes[len(got)]++
			}
		}
	}
	if len(sizes) != 2 {
		t.Errorf("TearUnsynced sizes %v: want the truncate sometimes kept, sometimes not", sizes)
	}
}

func TestGarbageTail(t *testing.T) {
	r := newRand(seed(t))
	durable := pattern(300, 'a')
	unsynced := pattern(1500, 'A')
	garbled := 0
	for range 300 {
		fsys := New(newRand(r.Uint64()))
		create(t, fsys, "f", durable, true, true)
		f, _ := fsys.OpenFile("f", os.O_WRONLY|os.O_APPEND, 0)
		f.Write(unsynced)
		fsys.Crash(GarbageTail)
		got := readFile(t, fsys, "f")
		if !bytes.HasPrefix(got, durable) {
			t.Fatal("durable prefix damaged")
		}
		if len(got) > len(durable)+len(unsynced) {
			t.Fatalf("file grew to %d", len(got))
		}
		if tail := got[len(durable):]; !bytes.HasPrefix(unsynced, tail) {
			garbled++
		}
	}
	t.Logf("%d of 300 tails garbled", garbled)
	if garbled == 0 {
		t.Error("GarbageTail never garbled the tail")
	}
}

// Random writes, truncates and syncs on one file against a model of its
// current and durable contents: DropUnsynced must restore exactly the
// durable model; the other modes may keep, sector by sector, either
// version of the overlap.
func TestSyncModel(t *testing.T) {
	r := newRand(seed(t))
	fsys := New(newRand(r.Uint64()))
	create(t, fsys, "f", nil, true, true)
	var cur, dur []byte
	f, _ := fsys.OpenFile("f", os.O_RDWR, 0)
	for step := range 3000 {
		switch op := r.IntN(10); {
		case op < 4:
			off, data := r.IntN(len(cur)+600), pattern(1+r.IntN(900), byte(step))
			if _, err := f.WriteAt(data, int64(off)); err != nil {
				t.Fatal(err)
			}
			if end := off + len(data); end > len(cur) {
				cur = append(cur, make([]byte, end-len(cur))...)
			}
			copy(cur[off:], data)
		case op < 5:
			size := r.IntN(len(cur) + 600)
			if err := f.Truncate(int64(size)); err != nil {
				t.Fatal(err)
			}
			if size < len(cur) {
				cur = cur[:size:size]
			} else {
				cur = append(cur, make([]byte, size-len(cur))...)
			}
		case op < 6:
			f.Close()
			f, _ = fsys.OpenFile("f", os.O_RDWR|os.O_TRUNC, 0)
			cur = nil
		case op < 8:
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			dur = bytes.Clone(cur)
		default:
			mode := RandomMode(r)
			fsys.Crash(mode)
			got := readFile(t, fsys, "f")
			if mode == DropUnsynced && !bytes.Equal(got, dur) {
				t.Fatalf("step %d: after DropUnsynced %d bytes, durable model %d bytes", step, len(got), len(dur))
			}
			for s := 0; s+SectorSize <= min(len(got), len(dur), len(cur)); s += SectorSize {
				sec := got[s : s+SectorSize]
				if !bytes.Equal(sec, dur[s:s+SectorSize]) && !bytes.Equal(sec, cur[s:s+SectorSize]) {
					t.Fatalf("step %d %v: sector at %d is neither durable nor current", step, mode, s)
				}
			}
			cur, dur = got, bytes.Clone(got)
			f, _ = fsys.OpenFile("f", os.O_RDWR, 0)
		}
		checkInvariants(t, fsys)
		if got := readFile(t, fsys, "f"); !bytes.Equal(got, cur) {
			t.Fatalf("step %d: current contents differ from the model", step)
		}
	}
}

// The store's pattern: appends, occasional syncs, crashes in random modes.
// After each crash the log must hold everything synced, and for
// DropUnsynced nothing more; for TearUnsynced nothing but a prefix of what
// was written.
func TestAppendLogCrashes(t *testing.T) {
	r := newRand(seed(t))
	fsys := New(newRand(r.Uint64()))
	fsys.MkdirAll("log", 0o755)
	var synced, written []byte
	created := false
	for round := range 200 {
		f, err := fsys.OpenFile("log/seg", os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if !created {
			fsys.SyncDir("log")
			created = true
		}
		for range r.IntN(8) {
			rec := pattern(1+r.IntN(700), byte('a'+round%26))
			if _, err := f.Write(rec); err != nil {
				t.Fatal(err)
			}
			written = append(written, rec...)
			if r.IntN(3) == 0 {
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
				synced = bytes.Clone(written)
			}
		}
		checkInvariants(t, fsys)
		mode := RandomMode(r)
		fsys.Crash(mode)
		checkInvariants(t, fsys)
		got := readFile(t, fsys, "log/seg")
		if !bytes.HasPrefix(got, synced) || len(got) > len(written) {
			t.Fatalf("round %d %v: %d bytes, synced %d, written %d", round, mode, len(got), len(synced), len(written))
		}
		switch mode {
		case DropUnsynced:
			if len(got) != len(synced) {
				t.Fatalf("round %d: DropUnsynced kept %d unsynced bytes", round, len(got)-len(synced))
			}
		case TearUnsynced:
			if !bytes.HasPrefix(written, got) {
				t.Fatalf("round %d: TearUnsynced result is not a prefix of what was written", round)
			}
		}
		// After the reboot everything on disk is durable.
		synced, written = got, bytes.Clone(got)
	}
}

func TestKillKeepsThePageCache(t *testing.T) {
	f := New(newRand(1))
	h, err := f.OpenFile("/a", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.SyncDir("/")
	h.WriteAt([]byte("synced"), 0)
	h.Sync()
	h.WriteAt([]byte(" cached"), 6)
	f.Kill()
	if _, err := h.WriteAt([]byte("x"), 0); !errors.Is(err, ErrStaleHandle) {
		t.Fatalf("write after kill = %v; want ErrStaleHandle", err)
	}
	if got := string(f.Files()["/a"]); got != "synced cached" {
		t.Fatalf("after kill the file holds %q; the page cache keeps unsynced writes", got)
	}
	f.Crash(DropUnsynced)
	if got := string(f.Files()["/a"]); got != "synced" {
		t.Fatalf("after a later power loss the file holds %q; want only the synced part", got)
	}
}
