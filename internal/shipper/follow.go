package shipper

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/wire"
)

// RotationGrace is how long a generation renamed away must stay quiet at
// its end before the follower moves on to the new file: a writer keeps
// writing to the old file until it reopens its log.
const RotationGrace = time.Second

// follower reads the file at one path as a sequence of generations: it
// follows a file as it grows, finishes a file renamed away from its open
// descriptor, and after copytruncate reads the bytes it had not yet read
// from the rotated copy. Not safe for concurrent use.
type follower struct {
	path string
	log  *slog.Logger
	now  func() time.Time

	cur *genFile
	// done is the finished generation while the follower waits for the
	// next one (the file at the path is empty, or has no first line yet):
	// kept open, so that when it looks again it starts from there and a
	// generation born and rotated away meanwhile is found among the
	// rotated copies, not skipped.
	done     *genFile
	rotated  time.Time // when cur was found renamed away or replaced
	lastSize int64     // cur's size when it last grew, for the grace period
	// older holds the rotated copies that were already beside the path
	// when the follower opened a generation there: they are older
	// generations, never the next one, whatever their modification time.
	older map[fileKey]bool
	// losses are bytes found gone for good since the stream last took
	// them (takeLosses): it tells the log and the receiver.
	losses []Loss
	// quiet is the file without a first line the follower waits on: as it
	// was when first seen so, and when. Whether it has been left alone is
	// measured by the follower's own clock, never by the file's time: a
	// clock stepped back (NTP correcting a laptop that ran ahead) leaves
	// files stamped in the future, which by their time alone would wait
	// until the clock caught up.
	quiet quietFile
	// zwait is the incomplete compressed copy the follower waits on.
	zwait quietFile
}

type quietFile struct {
	key   fileKey
	size  int64
	since time.Time
}

// fileKey tells files apart across renames; the modification time guards
// against an inode freed and reused by a new file.
type fileKey struct {
	dev, ino uint64
	mod      int64
}

func (fl *follower) isOlder(st fs.FileInfo) bool {
	k, ok := keyOf(st)
	return ok && fl.older[k]
}

func keyOf(st fs.FileInfo) (fileKey, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{uint64(sys.Dev), uint64(sys.Ino), st.ModTime().UnixNano()}, true
}

// genFile is an open generation.
type genFile struct {
	f    *os.File
	id   Ident
	read int64 // file offset of the next byte to hand out
	// fromCopy is set when f is the rotated copy of a copytruncated file:
	// after it, the generation in the original file follows.
	fromCopy bool
	// ended is set when the inode was truncated or rewritten in place: its
	// bytes now belong to the next generation and must not be read as
	// this one's.
	ended bool
	// seen is the generation's size when the follower last looked: what
	// it knows was there, for a truncation's loss.
	seen int64
	// z reads f decompressed when f is a compressed copy (logrotate's
	// compress got to the generation before the follower finished it);
	// fromCopy is then set too: it never grows, and the next generation
	// follows it.
	z *zReader
}

// genAt makes f, which holds generation id, the one read from offset
// read on.
func genAt(f *os.File, id Ident, read int64) (*genFile, error) {
	g := &genFile{f: f, id: id, read: read}
	if compressed(f.Name()) {
		z, err := openZ(f)
		if err != nil {
			return nil, err
		}
		g.z, g.fromCopy = z, true
	}
	return g, nil
}

// size is how many bytes the generation's file holds (decompressed).
func (g *genFile) size() (int64, error) {
	if g.z != nil {
		return g.z.size, nil
	}
	st, err := g.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (g *genFile) close() { g.f.Close() }

// openGen identifies f and makes it a generation read from its start. A
// compressed copy is decompressed whole once here (openZ proves it
// complete); its fingerprint comes from the same reader.
func openGen(f *os.File) (*genFile, error) {
	if !compressed(f.Name()) {
		id, err := identify(f)
		if err != nil {
			return nil, err
		}
		return genAt(f, id, 0)
	}
	z, err := openZ(f)
	if err != nil {
		return nil, err
	}
	id, err := identifyZ(f, z)
	if err != nil {
		return nil, err
	}
	return &genFile{f: f, id: id, z: z, fromCopy: true}, nil
}

func newFollower(path string, log *slog.Logger) *follower {
	return &follower{path: path, log: log, now: time.Now}
}

// Chunk is bytes of one generation.
type Chunk struct {
	Gen    Ident
	Offset int64 // file offset of Data[0] in the generation
	Data   []byte
	New    bool // the first chunk of a generation the follower moved on to
}

// errNothing means no bytes are ready now.
var errNothing = errors.New("nothing to read")

// resume positions the follower at the checkpointed generation and offset.
// If that generation is gone it reports how many bytes were lost (at least)
// and starts on the current file.
func (fl *follower) resume(id Ident, acked, seen int64) (lost int64, err error) {
	return fl.resumeAfter(id, acked, seen, time.Time{})
}

// resumeAfter is resume knowing when the generation was last written
// (mod): when it is gone, the oldest rotated copy written since — a later
// generation still on disk, maybe compressed — is read first, not skipped
// for the live file.
func (fl *follower) resumeAfter(id Ident, acked, seen int64, mod time.Time) (lost int64, err error) {
	if g, ok := fl.find(id); ok {
		g.read = acked
		g.fromCopy = g.fromCopy || !id.same(g.f)
		fl.cur = g
		if fl.cur.fromCopy {
			fl.rotated = fl.now()
		}
		return 0, nil
	}
	// Only what it had seen is known lost: a generation it had read to
	// the end before it went is the usual rotation, not a loss.
	if lost = max(0, seen-acked); lost > 0 {
		fl.lose(Loss{Bytes: lost, Cause: wire.LostRotatedAway, What: "generation " + id.ID()})
	}
	if !mod.IsZero() {
		// One not complete yet is passed over for the live file here.
		if g, _ := fl.nextCopy(fl.rotatedCopies(), id, nil, mod); g != nil {
			g.fromCopy = true
			fl.cur, fl.rotated = g, fl.now()
			return lost, nil
		}
	}
	return lost, fl.openCurrent()
}

// settled reports whether the follower has seen st's file unchanged (the
// same inode, size and modification time) for settleTime, and starts the
// wait when it sees it anew.
func (fl *follower) settled(st fs.FileInfo) bool {
	now := fl.now()
	k, _ := keyOf(st)
	if fl.quiet.since.IsZero() || fl.quiet.key != k || fl.quiet.size != st.Size() {
		fl.quiet = quietFile{key: k, size: st.Size(), since: now}
		return false
	}
	return now.Sub(fl.quiet.since) >= settleTime
}

// settleWait is how long until the file the follower waits on would be
// settled if left alone, or 0 when it waits on none: the stream looks
// again then rather than at its next (slow) fallback poll.
func (fl *follower) settleWait() time.Duration {
	if fl.cur != nil || fl.quiet.since.IsZero() {
		return 0
	}
	d := settleTime - fl.now().Sub(fl.quiet.since)
	if d < -settleTime {
		return 0 // long past due: a look failed; the next poll tries again, never a spin
	}
	return max(d, time.Millisecond)
}

// start begins with the file at the path from its first byte.
func (fl *follower) start() error { return fl.openCurrent() }

// openCurrent opens the file now at the path as a new generation.
func (fl *follower) openCurrent() error {
	f, err := os.Open(fl.path)
	if err != nil {
		fl.quiet = quietFile{} // nothing there to wait on
	}
	if errors.Is(err, fs.ErrNotExist) {
		fl.cur = nil
		return nil // it may appear later
	}
	if err != nil {
		return err // os.Open's error names the path already
	}
	// An empty file is not a generation yet, however long it stays empty
	// (a quiet log after its rotation): known by no bytes, its copy could
	// not be told from any other file's, and once it got lines and was
	// compressed behind the follower, the follower read that .gz again as
	// a later generation. Nothing to wait on either: its first bytes wake
	// the stream.
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		f.Close()
		fl.cur, fl.quiet = nil, quietFile{}
		return nil
	}
	id, ok, err := identifyLive(f, fl.settled)
	if err != nil || !ok {
		f.Close() // identify a generation only once it can be told apart
		fl.cur = nil
		return err
	}
	fl.cur = &genFile{f: f, id: id}
	fl.rotated = time.Time{}
	fl.quiet = quietFile{}
	fl.older = map[fileKey]bool{}
	for _, c := range fl.rotatedCopies() {
		if k, ok := keyOf(c.info); ok {
			fl.older[k] = true
		}
	}
	return nil
}

// find opens the file holding generation id: the path itself, or a rotated
// copy beside it (name.1, name-20261127, …), plain or compressed.
func (fl *follower) find(id Ident) (*genFile, bool) {
	cands := []string{fl.path}
	var zs []string
	for _, c := range fl.rotatedCopies() {
		if compressed(c.path) {
			zs = append(zs, c.path)
		} else {
			cands = append(cands, c.path)
		}
	}
	// The generation's own inode first, wherever it went (renamed); then
	// a copy with its first bytes (copytruncate); last a compressed copy
	// with them, read only when no plain one is left and it is complete.
	for pass, paths := range [][]string{cands, cands, zs} {
		byInode := pass == 0
		for _, p := range paths {
			if !byInode && p == fl.path {
				continue
			}
			f, err := os.Open(p)
			if err != nil {
				continue
			}
			if (byInode && id.same(f)) || (!byInode && id.sameContent(f)) {
				if g, err := genAt(f, id, 0); err == nil {
					return g, true
				}
			}
			f.Close()
		}
	}
	return nil, false
}

// rotatedCopy is a file beside the path that logrotate may have made of it.
type rotatedCopy struct {
	path string
	info fs.FileInfo
}

// rotatedCopies lists the uncompressed rotated copies beside the path
// (name.1, name-20261127, …), oldest first. Numbered copies are in
// logrotate's order, which its renames write into the names (name.2 is
// older than name.1) whatever the clock said: a clock stepped back (NTP
// correcting a laptop that ran ahead) stamps a newer copy before an older
// one. Other copies go by modification time, and where the clock cannot
// tell them apart (file times tick by jiffies, and a rotation takes
// microseconds) by name, where name-20261126 is older than name-20261127;
// the two kinds are merged by modification time.
func (fl *follower) rotatedCopies() []rotatedCopy {
	dir, base := filepath.Split(fl.path)
	ents, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return nil
	}
	var numbered, others []rotatedCopy
	var nums []int
	for _, e := range ents {
		n := e.Name()
		// Compressed copies are listed even when they cannot be read: a
		// generation only in one is a loss to tell, not a gap in the order.
		ext := compressionOf(n)
		if n == base || !(strings.HasPrefix(n, base+".") || strings.HasPrefix(n, base+"-")) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		c := rotatedCopy{filepath.Join(dir, n), info}
		if k, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(n, base+"."), ext)); err == nil && k >= 0 {
			numbered = append(numbered, c)
			nums = append(nums, k)
			continue
		}
		others = append(others, c)
	}
	sort.Sort(byNumber{numbered, nums})
	sort.Slice(others, func(i, j int) bool {
		a, b := others[i].info, others[j].info
		if !a.ModTime().Equal(b.ModTime()) {
			return a.ModTime().Before(b.ModTime())
		}
		return a.Name() < b.Name()
	})
	cs := make([]rotatedCopy, 0, len(numbered)+len(others))
	for len(numbered) > 0 || len(others) > 0 {
		if len(others) == 0 || (len(numbered) > 0 && !others[0].info.ModTime().Before(numbered[0].info.ModTime())) {
			cs, numbered = append(cs, numbered[0]), numbered[1:]
		} else {
			cs, others = append(cs, others[0]), others[1:]
		}
	}
	return cs
}

// byNumber orders numbered rotated copies oldest (highest number) first.
type byNumber struct {
	cs   []rotatedCopy
	nums []int
}

func (b byNumber) Len() int { return len(b.cs) }
func (b byNumber) Less(i, j int) bool {
	if b.nums[i] != b.nums[j] {
		return b.nums[i] > b.nums[j]
	}
	// name.2 before name.2.gz: the one being compressed is read plain
	return !compressed(b.cs[i].path) && compressed(b.cs[j].path)
}
func (b byNumber) Swap(i, j int) {
	b.cs[i], b.cs[j] = b.cs[j], b.cs[i]
	b.nums[i], b.nums[j] = b.nums[j], b.nums[i]
}

// next returns up to max bytes of the current generation, or errNothing.
// When the current generation is finished (renamed away and quiet, or
// truncated) it moves on to the file now at the path, marking its first
// chunk New.
func (fl *follower) next(max int) (Chunk, error) {
	if fl.cur == nil && fl.done != nil {
		return fl.moveOn(max)
	}
	if fl.cur == nil {
		if err := fl.openCurrent(); err != nil || fl.cur == nil {
			return Chunk{}, errNothingOr(err)
		}
		return fl.readCur(max, true)
	}
	// A file truncated in place (copytruncate) may have grown again past
	// where we were before we look: check its first bytes before reading
	// on, or the new generation's bytes would pass for the old one's.
	if !fl.cur.fromCopy && !fl.cur.ended {
		if st, err := fl.cur.f.Stat(); err == nil && (st.Size() < fl.cur.read || !fl.cur.id.sameContent(fl.cur.f)) {
			fl.truncated()
		}
	}
	c, err := fl.readCur(max, false)
	if err != errNothing {
		return c, err
	}
	// At the end of the current generation: has the path moved on?
	moved, err := fl.pathMovedOn()
	if err != nil || !moved {
		return Chunk{}, errNothingOr(err)
	}
	if fl.cur.ended {
		return fl.moveOn(max)
	}
	if st, err := fl.cur.f.Stat(); err == nil && st.Size() != fl.lastSize {
		fl.lastSize, fl.rotated = st.Size(), fl.now() // still being written: wait
	}
	if fl.rotated.IsZero() {
		fl.rotated = fl.now()
	}
	if fl.now().Sub(fl.rotated) < RotationGrace {
		return Chunk{}, errNothing
	}
	if c, err := fl.readCur(max, false); err != errNothing {
		return c, err // a late write made it in
	}
	return fl.moveOn(max)
}

// moveOn closes the finished generation and starts the next one: the
// oldest rotated copy written after it, when the follower fell more than
// one rotation behind (a stopped shipper, a receiver down, a burst of
// rotations), else the file at the path. Until there is a next one, the
// finished generation stays as fl.done and the next call starts from it.
func (fl *follower) moveOn(max int) (Chunk, error) {
	if fl.cur != nil {
		fl.forgetDone()
		fl.done, fl.cur = fl.cur, nil
	}
	next, wait := fl.rotatedAfter(fl.done)
	if wait {
		return Chunk{}, errNothing
	}
	if next != nil {
		fl.forgetDone()
		fl.cur = next
		fl.rotated = time.Time{}
		return fl.readCur(max, true)
	}
	if err := fl.openCurrent(); err != nil || fl.cur == nil {
		return Chunk{}, errNothingOr(err)
	}
	fl.forgetDone()
	return fl.readCur(max, true)
}

func (fl *follower) forgetDone() {
	if fl.done != nil {
		fl.done.close()
		fl.done = nil
	}
}

// rotatedAfter opens the next generation among the rotated copies: the
// oldest non-empty one after the finished generation's own file (or, when
// that file is gone, written no earlier than it) that holds another
// generation. Copies before it, or already there when it was opened, were
// shipped before it or predate the shipper; its own copies (the same
// first bytes after copytruncate or compress) are not a new generation.
// wait is set when the next one is a compressed copy not yet complete
// (logrotate is compressing it): the follower looks again later rather
// than skip it.
func (fl *follower) rotatedAfter(done *genFile) (next *genFile, wait bool) {
	st, err := done.f.Stat()
	if err != nil {
		return nil, false
	}
	copies := fl.rotatedCopies()
	found := -1
	for i, c := range copies {
		if os.SameFile(c.info, st) {
			found = i
			break
		}
	}
	if found < 0 {
		// Gone from where it was: compressed, its copy holds its first
		// bytes, and the copies after that one came after it.
		for i, c := range copies {
			if compressed(c.path) && fl.holds(c.path, done.id) {
				found = i
				break
			}
		}
	}
	var mod time.Time
	if found < 0 {
		mod = st.ModTime() // only file times say what came after it
	}
	return fl.nextCopy(copies[found+1:], done.id, done.f, mod)
}

// nextCopy opens the first of copies (oldest first) that holds another
// generation than id, other than the file self: not empty, not one that
// was beside the path before (older), and, when mod is set, written no
// earlier than it. wait is set when that copy is compressed and not
// complete yet (logrotate is compressing it); one that cannot be read is
// counted lost, once, and passed over.
func (fl *follower) nextCopy(copies []rotatedCopy, id Ident, self *os.File, mod time.Time) (next *genFile, wait bool) {
	for _, c := range copies {
		if c.info.Size() == 0 || (!mod.IsZero() && c.info.ModTime().Before(mod)) || fl.isOlder(c.info) {
			continue
		}
		if ext := compressionOf(c.path); ext != "" && !readable(ext) && !mod.IsZero() && !c.info.ModTime().After(mod) {
			// An .xz or .zst the follower cannot look into, as old as the
			// finished generation: likely its own copy (compressors keep
			// the file's time), not a generation after it.
			continue
		}
		f, err := os.Open(c.path)
		if err != nil {
			continue
		}
		if (self != nil && sameInode(f, self)) || (id.FPLen > 0 && id.sameContent(f)) {
			f.Close()
			continue
		}
		g, err := openGen(f)
		if err == nil {
			if n, err := g.size(); err == nil && n == 0 {
				// An empty generation compressed (logrotate's ifempty):
				// nothing to ship, as for an empty plain copy above. Taken
				// as the next one, it gave the stream nothing to read and
				// no rotation to wait out, so the generations after it
				// waited for the next fallback poll, a minute each.
				g.close()
				continue
			}
			return g, false
		}
		f.Close()
		if errors.Is(err, errIncomplete) && !fl.waitedOut(c.info) {
			return nil, true
		}
		// A copy after the finished generation that cannot be read (a
		// corrupt archive): its bytes, at least as many as it holds
		// compressed, are lost.
		if k, ok := keyOf(c.info); ok && !fl.older[k] {
			if fl.older == nil {
				fl.older = map[fileKey]bool{}
			}
			fl.older[k] = true // counted once, never looked at again
			fl.lose(Loss{Bytes: c.info.Size(), Cause: wire.LostUnreadable, What: c.path + ": " + err.Error()})
		}
	}
	return nil, false
}

// holds says whether the file at path starts with generation id's first
// bytes.
func (fl *follower) holds(path string, id Ident) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return id.FPLen > 0 && id.sameContent(f)
}

// zWaitMax is how long a compressed copy may stay incomplete and
// unchanged before the follower stops waiting for it: logrotate compresses
// in seconds; one cut short for good (a full disk, a killed compressor)
// must not stall the stream.
const zWaitMax = 2 * time.Minute

// waitedOut says whether the incomplete copy st has been seen unchanged
// for zWaitMax, by the follower's own clock; it starts the wait when it
// sees the copy anew or changed.
func (fl *follower) waitedOut(st fs.FileInfo) bool {
	k, _ := keyOf(st)
	now := fl.now()
	if fl.zwait.since.IsZero() || fl.zwait.key != k || fl.zwait.size != st.Size() {
		fl.zwait = quietFile{key: k, size: st.Size(), since: now}
		return false
	}
	return now.Sub(fl.zwait.since) >= zWaitMax
}

func errNothingOr(err error) error {
	if err != nil {
		return err
	}
	return errNothing
}

func (fl *follower) readCur(max int, isNew bool) (Chunk, error) {
	if fl.cur.ended {
		return Chunk{}, errNothing
	}
	// Allocate only for the bytes there are: an idle stream polling its
	// file must not churn a batch-sized buffer every time it looks.
	st, err := fl.cur.f.Stat()
	if err != nil {
		return Chunk{}, fmt.Errorf("stat %s: %w", fl.path, err)
	}
	size := st.Size()
	var from io.ReaderAt = fl.cur.f
	if fl.cur.z != nil {
		size, from = fl.cur.z.size, fl.cur.z
	}
	if size > fl.cur.seen {
		fl.cur.seen = size
	}
	ready := size - fl.cur.read
	if ready <= 0 {
		return Chunk{}, errNothing
	}
	buf := make([]byte, min(int64(max), ready))
	n, err := from.ReadAt(buf, fl.cur.read)
	if err != nil && err != io.EOF {
		return Chunk{}, fmt.Errorf("read %s: %w", fl.path, err)
	}
	if n == 0 {
		return Chunk{}, errNothing
	}
	c := Chunk{Gen: fl.cur.id, Offset: fl.cur.read, Data: buf[:n], New: isNew}
	fl.cur.read += int64(n)
	return c, nil
}

// pathMovedOn reports whether the path now holds another generation than
// the one being read: renamed away and replaced, deleted, or truncated in
// place (copytruncate). After copytruncate it switches to the rotated copy
// when one holds the bytes not yet read.
func (fl *follower) pathMovedOn() (bool, error) {
	if fl.cur.fromCopy {
		return true, nil // a copy never grows: move on to the original
	}
	f, err := os.Open(fl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // deleted: keep reading the open descriptor; wait for a new file
	}
	if err != nil {
		return false, err // names the path already
	}
	defer f.Close()
	if !sameInode(f, fl.cur.f) {
		return true, nil // renamed away; a new file is at the path
	}
	if fl.cur.id.same(f) {
		st, err := f.Stat()
		if err == nil && st.Size() >= fl.cur.read {
			return false, nil // still our file, just no new bytes
		}
	}
	fl.truncated()
	return fl.cur.ended, nil // or reading the rest from the rotated copy first
}

// truncated handles the current file truncated or rewritten in place
// (copytruncate): the bytes not yet read went to a rotated copy, if
// anywhere; read them from there, else this generation has ended.
func (fl *follower) truncated() {
	if fl.cur.ended {
		return // decided already: its loss, if any, is counted
	}
	if c, ok := fl.find(fl.cur.id); ok && !sameInode(c.f, fl.cur.f) {
		if n, err := c.size(); err == nil && n > fl.cur.read {
			if fl.cur.seen > n {
				// Written after logrotate copied and before it truncated:
				// the copytruncate race, seen only because the follower
				// had looked at the file in between.
				fl.lose(Loss{Bytes: fl.cur.seen - n, Cause: wire.LostTruncated, What: "generation " + fl.cur.id.ID()})
			}
			fl.cur.close()
			c.read, c.fromCopy, c.seen = fl.cur.read, true, n
			fl.cur = c
			fl.rotated = fl.now()
			return
		}
		c.close()
	}
	fl.cur.ended = true // nothing more of this generation will come
	if unread := fl.cur.seen - fl.cur.read; unread > 0 {
		fl.lose(Loss{Bytes: unread, Cause: wire.LostTruncated, What: "generation " + fl.cur.id.ID()})
	}
}

// lose records bytes gone for good.
func (fl *follower) lose(l Loss) {
	l.At = fl.now()
	fl.losses = append(fl.losses, l)
}

// takeLosses returns the losses found since the last call.
func (fl *follower) takeLosses() []Loss {
	l := fl.losses
	fl.losses = nil
	return l
}

func sameInode(a, b *os.File) bool {
	sa, err1 := a.Stat()
	sb, err2 := b.Stat()
	if err1 != nil || err2 != nil {
		return false
	}
	x, ok1 := sa.Sys().(*syscall.Stat_t)
	y, ok2 := sb.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && x.Dev == y.Dev && x.Ino == y.Ino
}

// close releases the open file.
func (fl *follower) close() {
	fl.forgetDone()
	if fl.cur != nil {
		fl.cur.close()
		fl.cur = nil
	}
}
