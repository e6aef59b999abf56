package crashfs

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
)

// SectorSize is the unit in which an overwrite of already durable bytes
// survives or reverts in TearUnsynced and GarbageTail crashes.
const SectorSize = 512

// Mode says what a Crash does to data that was written but not synced.
type Mode int

const (
	// DropUnsynced loses every unsynced byte: files are exactly their
	// durable contents.
	DropUnsynced Mode = iota
	// TearUnsynced keeps a random prefix of the unsynced bytes written past
	// the durable length (none, all, up to a sector boundary or any length,
	// a quarter of the time each). Of the unsynced overwrites inside the
	// durable length, a random subset of the differing 512-byte sectors
	// reverts and the rest keep the new bytes. An unsynced shrink
	// (Truncate, O_TRUNC) may or may not persist.
	TearUnsynced
	// GarbageTail is TearUnsynced, but the surviving unsynced tail may also
	// have a run of up to a sector of zeros or random bytes written over it,
	// as from a torn sector or a size that reached the disk before the data.
	GarbageTail
)

var modeNames = [...]string{"DropUnsynced", "TearUnsynced", "GarbageTail"}

func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// RandomMode returns one of the modes, uniformly.
func RandomMode(r *rand.Rand) Mode { return Mode(r.IntN(len(modeNames))) }

// Crash simulates power loss followed by a reboot; see Mode for what happens
// to unsynced data. Every directory's entries revert to its durable entries;
// a file that no directory durably names is gone; each surviving name gets
// its own file whose contents are now all durable. Handles opened before the
// crash fail with ErrStaleHandle. An armed FailAfter fault is disarmed.
func (f *FS) Crash(mode Mode) {
	if mode < 0 || int(mode) >= len(modeNames) {
		panic(fmt.Sprintf("crashfs: Crash with unknown %v", mode))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.epoch++
	f.failIn, f.failErr = 0, nil

	// Walk in a fixed order so the random draws, and so the outcome, depend
	// only on the seed and the operations.
	survived := map[*inode][]byte{}
	for _, p := range slices.Sorted(maps.Keys(f.dirs)) {
		d := f.dirs[p]
		ents := make(map[string]*inode, len(d.dur))
		for _, name := range slices.Sorted(maps.Keys(d.dur)) {
			old := d.dur[name]
			data, ok := survived[old]
			if !ok {
				data = f.survive(old, mode)
				survived[old] = data
			}
			// A file durably named twice (a rename across directories that
			// only one SyncDir covered) becomes two independent files.
			ents[name] = &inode{cur: bytes.Clone(data), dur: bytes.Clone(data), clean: len(data)}
		}
		d.cur = ents
		d.dur = maps.Clone(ents)
	}
}

// Kill simulates the death of the process using the file system, not of
// the machine: every open handle stops working, but everything written stays
// as it is, synced or not, the way the page cache outlives a killed process.
// A later Crash can still lose what was never synced.
func (f *FS) Kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.epoch++
	f.failIn, f.failErr = 0, nil
}

// survive returns what is on disk for ino after power loss in mode.
func (f *FS) survive(ino *inode, mode Mode) []byte {
	cur, dur := ino.cur, ino.dur
	out := bytes.Clone(dur)
	if out == nil {
		out = []byte{}
	}
	if mode == DropUnsynced {
		return out
	}
	// Unsynced overwrites of durable bytes: each differing sector either
	// made it or did not.
	overlap := min(len(cur), len(dur))
	for s := ino.clean / SectorSize * SectorSize; s < overlap; s += SectorSize {
		e := min(s+SectorSize, overlap)
		if !bytes.Equal(cur[s:e], dur[s:e]) && f.r.IntN(2) == 0 {
			copy(out[s:e], cur[s:e])
		}
	}
	switch {
	case len(cur) < len(dur):
		// An unsynced shrink: the new size may have reached the disk.
		if f.r.IntN(2) == 0 {
			out = out[:len(cur)]
		}
	case len(cur) > len(dur):
		// The unsynced tail: a random prefix of it survives.
		tail := cur[len(dur):]
		n := f.tearLen(len(dur), len(cur))
		out = append(out, tail[:n]...)
		if mode == GarbageTail && n > 0 && f.r.IntN(2) == 0 {
			start := len(dur) + f.r.IntN(n)
			end := start + 1 + f.r.IntN(min(SectorSize, len(out)-start))
			if f.r.IntN(2) == 0 {
				clear(out[start:end])
			} else {
				for i := start; i < end; i++ {
					out[i] = byte(f.r.Uint32())
				}
			}
		}
	}
	return out
}

// tearLen picks how many of the unsynced bytes between offsets durable and
// current survive a crash: none, all, up to a sector boundary, or any number,
// each a quarter of the time (a uniform choice alone would almost never
// keep all or none).
func (f *FS) tearLen(durable, current int) int {
	n := current - durable
	switch f.r.IntN(4) {
	case 0:
		return 0
	case 1:
		return n
	case 2:
		first := (durable + SectorSize - 1) / SectorSize // boundaries in [durable, current]
		last := current / SectorSize
		if first <= last {
			return (first+f.r.IntN(last-first+1))*SectorSize - durable
		}
	}
	return f.r.IntN(n + 1)
}
