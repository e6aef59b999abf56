package integration

// The shipper under Debian's real logrotate: a file written steadily and
// rotated (and compressed) every second or two while the receiver is down
// for a while, so that the shipper falls several generations behind and
// finds the ones it had not finished only as .gz copies.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/testenv"
)

// logrotateBin is run by absolute path: /usr/sbin is not on a normal
// user's PATH.
const logrotateBin = "/usr/sbin/logrotate"

type logrotateScenario struct {
	name         string   // the subtest, and the source file (name.log)
	directives   []string // besides rotate 50, in the file's block
	copytruncate bool     // else create: the writer reopens its file in postrotate
}

// TestShipperUnderLogrotate: a writer appends numbered lines to a file
// that logrotate rotates with -f every second or two, while a live shipper
// ships it; the receiver is down for about 8 s in the middle (with a quiet
// spell of two rotations without a line), so the generations the shipper
// had not finished are compressed, their plain copies deleted, before it
// can send them. rotate 50 keeps every generation, so with create nothing
// can be lost: the stream must be exactly every line written, in order,
// and no loss may be reported. With copytruncate, logrotate itself drops
// the lines written between its copy and its truncate: the stream must
// hold every line logrotate kept, in order, none twice, and the shipper
// may not report more lost than is missing.
func TestShipperUnderLogrotate(t *testing.T) {
	testenv.Require(t, testenv.Logrotate())
	for _, sc := range []logrotateScenario{
		// Debian's own configurations: the newest rotated copy stays plain
		// until the next rotation.
		{name: "create-delaycompress", directives: []string{"create", "compress", "delaycompress"}},
		// Compressed at once: the generation the shipper was reading is
		// gone from disk in plain as soon as it is rotated.
		{name: "create-compress", directives: []string{"create", "compress"}},
		{name: "copytruncate-delaycompress", directives: []string{"copytruncate", "compress", "delaycompress"}, copytruncate: true},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			logrotateTest(t, sc)
		})
	}
}

// lrWriter appends lines to the source file at a few hundred a second and,
// in create mode, reopens it when logrotate's postrotate asks (as a daemon
// does on SIGHUP): logrotate compresses only after postrotate, so every
// line reaches a file that is kept.
type lrWriter struct {
	r         *shipRig
	s         *shipSource
	sc        logrotateScenario
	reopen    string       // postrotate creates it and waits until it is gone
	rotations atomic.Int64 // logrotate runs finished
	writing   atomic.Bool
	reopens   int
}

func (lw *lrWriter) run(ctx context.Context) error {
	w, s := lw.r.w, lw.s
	for ctx.Err() == nil {
		if _, err := os.Stat(lw.reopen); err == nil {
			if err := s.f.Close(); err != nil {
				return err
			}
			f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return fmt.Errorf("reopen after rotation: %w", err)
			}
			s.f = f
			lw.reopens++
			s.gens = append(s.gens, shipGen{n: lw.reopens, start: int64(len(s.want)), how: "logrotate create"})
			if err := os.Remove(lw.reopen); err != nil {
				return err
			}
		}
		if lw.sc.copytruncate {
			// Where each generation starts is known only roughly: the
			// writer sees logrotate's run end a moment after the truncate.
			if n := int(lw.rotations.Load()); n > len(s.gens)-1 {
				s.gens = append(s.gens, shipGen{n: n, start: int64(len(s.want)), how: "logrotate copytruncate (about here)"})
			}
		}
		if lw.writing.Load() {
			// gNNNN is the writer's file (create) or how many rotations had
			// finished (copytruncate); nNNNNNNN numbers every line.
			s.gen = len(s.gens) - 1
			b := w.lineOf(s, 40+w.rng.IntN(200))
			if _, err := s.f.Write(b); err != nil {
				return fmt.Errorf("write %s: %w", s.path, err)
			}
			s.want = append(s.want, b...)
			w.lines++
		}
		time.Sleep(time.Duration(1+w.rng.IntN(5)) * time.Millisecond)
	}
	return nil
}

// logrotate runs the real logrotate on the source with its own state and
// configuration.
type logrotate struct {
	t     *testing.T
	conf  string
	state string
	runs  int
}

func newLogrotate(t *testing.T, lw *lrWriter) *logrotate {
	dir := t.TempDir()
	lr := &logrotate{t: t, conf: filepath.Join(dir, "logrotate.conf"), state: filepath.Join(dir, "logrotate.state")}
	var b strings.Builder
	fmt.Fprintf(&b, "%s {\n    rotate 50\n", lw.s.path)
	for _, d := range lw.sc.directives {
		fmt.Fprintf(&b, "    %s\n", d)
	}
	if !lw.sc.copytruncate {
		// Bounded, so that a test that died leaves no shell behind.
		fmt.Fprintf(&b, "    postrotate\n        touch %[1]s; i=0; while [ -e %[1]s ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done\n    endscript\n", lw.reopen)
	}
	b.WriteString("}\n")
	// logrotate refuses a config others may write.
	if err := os.WriteFile(lr.conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return lr
}

// rotate runs logrotate -f once.
func (lr *logrotate) rotate() {
	lr.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, logrotateBin, "-f", "--state", lr.state, lr.conf).CombinedOutput()
	if err != nil || len(out) > 0 {
		lr.t.Fatalf("logrotate (run %d): %v\n%s", lr.runs+1, err, out)
	}
	lr.runs++
}

// lrGen is one generation on disk: the file that holds it and its bytes.
type lrGen struct {
	name string
	data []byte
}

// lrDisk reads every generation of the source on disk, oldest first: the
// numbered copies from path.runs down to path.1 (each plain or .gz, never
// both once logrotate is done; rotate 50 deletes none), then the file
// itself.
func lrDisk(t *testing.T, path string, runs int) []lrGen {
	t.Helper()
	var gens []lrGen
	for n := runs; n >= 0; n-- {
		p := path
		if n > 0 {
			p += "." + strconv.Itoa(n)
		}
		plain, perr := os.ReadFile(p)
		z, zerr := os.ReadFile(p + ".gz")
		switch {
		case perr == nil && zerr == nil:
			t.Fatalf("both %s and its .gz are on disk after logrotate finished", filepath.Base(p))
		case perr == nil:
			gens = append(gens, lrGen{filepath.Base(p), plain})
		case zerr == nil:
			zr, err := gzip.NewReader(bytes.NewReader(z))
			if err != nil {
				t.Fatalf("%s.gz: %v", filepath.Base(p), err)
			}
			b, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("%s.gz: %v", filepath.Base(p), err)
			}
			gens = append(gens, lrGen{filepath.Base(p) + ".gz", b})
		default:
			t.Fatalf("generation %s is gone after %d rotations with rotate 50", filepath.Base(p), runs)
		}
	}
	if extra, _ := filepath.Glob(fmt.Sprintf("%s.%d*", path, runs+1)); len(extra) > 0 {
		t.Fatalf("more rotated copies than rotations: %v", extra)
	}
	return gens
}

// lrPut is what the receiver's index says of one PUT of the stream.
type lrPut struct {
	TS        string `json:"ts"`
	Method    string `json:"method"`
	Stream    string `json:"stream"`
	Status    int    `json:"status"`
	Bytes     int64  `json:"bytes"`
	Lost      int64  `json:"lost"`
	LostCause string `json:"lost_cause"`
}

// lrPuts reads the PUTs of stream from the receiver's index files.
func lrPuts(t *testing.T, dataDir, stream string) []lrPut {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, "index", "*.jsonl"))
	slices.Sort(files)
	var puts []lrPut
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var p lrPut
			if json.Unmarshal(sc.Bytes(), &p) == nil && p.Method == "PUT" && p.Stream == stream {
				puts = append(puts, p)
			}
		}
	}
	return puts
}

// lineSeq is the number nNNNNNNN of a line from lineOf, -1 if it has none.
func lineSeq(l []byte, stream string) int {
	f := bytes.Fields(l)
	if len(f) < 3 || string(f[1]) != stream || len(f[2]) < 2 || f[2][0] != 'n' {
		return -1
	}
	n, err := strconv.Atoi(string(f[2][1:]))
	if err != nil {
		return -1
	}
	return n
}

func logrotateTest(t *testing.T, sc logrotateScenario) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x10c8))
	r := newShipRig(t, seed, sc.name+".log")
	// logrotate will not rotate in a folder its group or others may write
	// (a umask of 002 would make it one) without su.
	if err := os.Chmod(r.logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := r.sources[0]
	lw := &lrWriter{r: r, s: s, sc: sc, reopen: filepath.Join(t.TempDir(), "reopen")}
	lr := newLogrotate(t, lw)
	rotate := func() {
		lr.rotate()
		lw.rotations.Add(1)
	}

	began := time.Now()
	r.sp.Start()
	lw.writing.Store(true)
	wctx, stopWriter := context.WithCancel(context.Background())
	werr := make(chan error, 1)
	go func() { werr <- lw.run(wctx) }()
	writerDone := false
	stopWriterNow := func() {
		if !writerDone {
			writerDone = true
			stopWriter()
			if err := <-werr; err != nil {
				t.Errorf("writer: %v", err)
			}
		}
	}
	defer stopWriterNow()
	// run lets time d pass, rotating at random intervals from every to
	// 1.6×every.
	run := func(d, every time.Duration) {
		t.Helper()
		end := time.Now().Add(d)
		for {
			next := time.Now().Add(every + time.Duration(rng.Int64N(int64(every*6/10))))
			if next.After(end) {
				time.Sleep(time.Until(end))
				return
			}
			time.Sleep(time.Until(next))
			rotate()
			select {
			case err := <-werr:
				writerDone = true
				t.Fatalf("the writer stopped: %v", err)
			default:
			}
		}
	}

	// With the receiver up, rotations a little slower than the second of
	// quiet the shipper waits for after a rename; while it is down,
	// faster, so that it falls well behind in a short outage (its retries
	// back off the longer the outage, and the test waits for them).
	run(3*time.Second, 1200*time.Millisecond)
	r.f.rcv.Kill()
	downAt := time.Now()
	run(3*time.Second, 700*time.Millisecond)
	// A quiet spell: a generation with no line, rotated and compressed
	// while the shipper is behind (logrotate's default is ifempty). Known
	// by its empty fingerprint, such a generation once made the shipper
	// skip every generation after it, and later stop on it for a minute.
	lw.writing.Store(false)
	time.Sleep(300 * time.Millisecond)
	rotate()
	time.Sleep(800 * time.Millisecond)
	rotate()
	time.Sleep(300 * time.Millisecond)
	lw.writing.Store(true)
	run(2500*time.Millisecond, 700*time.Millisecond)
	// What the receiver holds now is what it had when it went down.
	upAt := time.Now()
	runsAtUp := lr.runs
	onDiskAtUp, _ := filepath.Glob(s.path + ".*")
	r.f.rcv.Start()
	down := time.Since(downAt)
	if r.f.rcv.URL() != r.sp.url {
		// The receiver had to take another port: the shipper must be told.
		t.Logf("the receiver moved to %s; restarting the shipper", r.f.rcv.URL())
		r.sp.Kill()
		r.sp.Start()
	}
	run(3*time.Second, 1200*time.Millisecond)
	lw.writing.Store(false)
	// The last lines into a rotated copy (compressed at once without
	// delaycompress), then one more rotation of an empty file.
	time.Sleep(200 * time.Millisecond)
	rotate()
	time.Sleep(1500 * time.Millisecond)
	rotate()
	stopWriterNow()
	if t.Failed() {
		return
	}

	disk := lrDisk(t, s.path, lr.runs)
	var kept []byte
	for _, g := range disk {
		kept = append(kept, g.data...)
	}
	if !sc.copytruncate && !bytes.Equal(kept, s.want) {
		// Not the shipper: the files logrotate left differ from what was
		// written, so the test itself is wrong.
		t.Fatalf("the generations on disk are not every line written: %s", shipDiff(s, kept))
	}
	last := s.want[bytes.LastIndexByte(s.want[:len(s.want)-1], '\n')+1:]
	if !bytes.HasSuffix(kept, last) {
		t.Fatalf("the last line written is not the last on disk: %q", clip(last, 40))
	}

	// The shipper's retries back off with full jitter: after a 7 s outage
	// its next try comes a few seconds after the receiver's return as a
	// rule, rarely half a minute or more.
	L, grew := lrWaitShipped(t, r, s, last, 90*time.Second)
	got, err := r.f.admin.readAll(shipHost, s.stream, L)
	if err != nil {
		t.Fatal(err)
	}
	puts := lrPuts(t, r.f.rcv.dataDir, s.stream)
	var lost int64
	var causes []string
	for _, p := range puts {
		lost += p.Lost
		if p.LostCause != "" && !slices.Contains(causes, p.LostCause) {
			causes = append(causes, p.LostCause)
		}
	}
	shipLog := readFrom(r.sp.logPath, 0)
	lossErrors := strings.Count(shipLog, "gone for good")

	if sc.copytruncate {
		lrCheckSubsequence(t, s, got, kept, lost)
	} else {
		if d := shipDiff(s, got); d != "" {
			t.Errorf("seed %d: %s", seed, d)
		}
		// A false alarm is as visible as a loss: lost-logs, the doctor.
		if lost > 0 || lossErrors > 0 {
			t.Errorf("every byte arrived, yet the shipper reported %d bytes lost (%v) and logged %d losses", lost, causes, lossErrors)
		}
	}

	// Did the shipper really fall behind compressed generations? At the
	// receiver's return it had sent what the index says before then;
	// the generation holding the next line, and those after it up to the
	// file at the path, were on disk as .gz alone or plain.
	var sent int64
	upTS := upAt.UTC().Format("2006-01-02T15:04:05.000Z")
	for _, p := range puts {
		if p.TS < upTS && p.Status/100 == 2 {
			sent += p.Bytes
		}
	}
	// Once the receiver answered again, the backlog (a few hundred KiB in
	// a dozen generations) goes in seconds: a second of grace per
	// generation at most. (When the shipper tries again is up to its
	// backoff, not measured here.)
	var first, lastPut time.Time
	for _, p := range puts {
		ts, err := time.Parse("2006-01-02T15:04:05.000Z", p.TS)
		if err != nil || p.TS < upTS || p.Status/100 != 2 {
			continue
		}
		if first.IsZero() {
			first = ts
		}
		lastPut = ts
	}
	if catchUp := lastPut.Sub(first); catchUp > 30*time.Second {
		t.Errorf("the shipper took %s to send its backlog once the receiver answered again", catchUp.Round(time.Millisecond))
	} else {
		t.Logf("backlog sent in %s once the receiver answered again", catchUp.Round(time.Millisecond))
	}
	behind, compressedOnly := lrBehind(s, got, sent, disk, runsAtUp, onDiskAtUp)
	t.Logf("%d rotations; receiver down %s; on its return the shipper had sent %d bytes and was %d generations behind, %d of them only on disk as .gz",
		lr.runs, down.Round(100*time.Millisecond), sent, behind, compressedOnly)
	if compressedOnly < 2 {
		t.Errorf("the shipper was behind only %d generations that were on disk only compressed when the receiver came back: this run did not test what it is for", compressedOnly)
	}
	t.Logf("%d lines, %d bytes written; stream %d bytes; the stream grew for %s after the last rotation; run %s",
		r.w.lines, len(s.want), len(got), grew.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// lrWaitShipped waits until the stream ends with the last line written
// (and is the same length a moment later, when a duplicate would show),
// or limit.
func lrWaitShipped(t *testing.T, r *shipRig, s *shipSource, last []byte, limit time.Duration) (int64, time.Duration) {
	t.Helper()
	began := time.Now()
	var L int64
	for {
		if !r.sp.running() {
			t.Fatalf("the shipper exited on its own: %v", r.sp.cmd.ProcessState)
		}
		L, _ = r.f.admin.head(shipHost, s.stream)
		if L >= int64(len(last)) {
			tail, err := r.f.admin.read(shipHost, s.stream, L-int64(len(last)), int64(len(last)))
			if err == nil && bytes.Equal(tail, last) {
				break
			}
		}
		if time.Since(began) > limit {
			t.Fatalf("the stream (%d bytes) did not end with the last line written (%d bytes written) within %s", L, len(s.want), limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	grew := time.Since(began)
	time.Sleep(1500 * time.Millisecond)
	if L2, _ := r.f.admin.head(shipHost, s.stream); L2 != L {
		t.Errorf("the stream went on growing after its last line arrived: %d bytes, then %d", L, L2)
		L = L2
	}
	return L, grew
}

// lrCheckSubsequence checks a copytruncated stream: every line stored was
// written, in the order written, none twice; every line logrotate kept is
// stored; the shipper said no more lost than is missing. A line the copy
// tore (logrotate read it while it was being written) is stored as the
// copy holds it.
func lrCheckSubsequence(t *testing.T, s *shipSource, got, kept []byte, reportedLost int64) {
	t.Helper()
	written := map[string]int{}
	for i, l := range slices.Collect(bytes.Lines(s.want)) {
		written[string(l)] = i
	}
	keptLines := map[string]bool{}
	torn := 0
	for l := range bytes.Lines(kept) {
		keptLines[string(l)] = true
		if _, ok := written[string(l)]; !ok {
			torn++
		}
	}
	stored := map[string]bool{}
	prev := -1
	var off int
	for l := range bytes.Lines(got) {
		i, ok := written[string(l)]
		switch {
		case !ok && !keptLines[string(l)]:
			t.Errorf("stream %s at %d: %q was never written (nor is it in a rotated copy)", s.stream, off, clip(l, 60))
		case ok && i <= prev:
			t.Errorf("stream %s at %d: line %d of those written comes again, or out of order, after line %d: %q", s.stream, off, i, prev, clip(l, 60))
		case ok:
			prev = i
		}
		stored[string(l)] = true
		off += len(l)
		if t.Failed() {
			return
		}
	}
	missingKept := 0
	for l := range keptLines {
		if !stored[l] {
			if missingKept == 0 {
				t.Errorf("stream %s lacks %q, which logrotate kept", s.stream, clip([]byte(l), 60))
			}
			missingKept++
		}
	}
	if missingKept > 0 {
		t.Errorf("stream %s lacks %d lines that logrotate kept", s.stream, missingKept)
	}
	missing, missingBytes := 0, 0
	for l := range written {
		if !stored[l] {
			missing++
			missingBytes += len(l)
		}
	}
	t.Logf("copytruncate: %d lines (%d bytes) written but not in any generation on disk (%d torn by the copy); the stream lacks %d lines (%d bytes); the shipper reported %d bytes lost",
		len(written)-len(keptLines)+torn, len(s.want)-len(kept), torn, missing, missingBytes, reportedLost)
	if reportedLost > int64(len(s.want)-len(got)) {
		t.Errorf("the shipper reported %d bytes lost, but the stream lacks only %d bytes of what was written", reportedLost, len(s.want)-len(got))
	}
}

// lrBehind says how many generations the shipper still had to send when
// the receiver came back (from the one holding stream offset sent to the
// file at the path), and how many of them were then on disk only as .gz.
// Generation k (disk[k]) was path.(runsAtUp-k) when the receiver came
// back.
func lrBehind(s *shipSource, got []byte, sent int64, disk []lrGen, runsAtUp int, onDiskAtUp []string) (behind, compressedOnly int) {
	if sent >= int64(len(got)) {
		return 0, 0
	}
	st := bytes.LastIndexByte(got[:sent], '\n') + 1
	seq := lineSeq(got[st:], s.stream)
	k := -1
	for i, g := range disk {
		for l := range bytes.Lines(g.data) {
			if lineSeq(l, s.stream) == seq {
				k = i
			}
		}
	}
	if k < 0 {
		return 0, 0
	}
	for j := k; j <= runsAtUp; j++ {
		behind++
		n := runsAtUp - j
		if n == 0 {
			continue
		}
		name := s.path + "." + strconv.Itoa(n)
		if slices.Contains(onDiskAtUp, name+".gz") && !slices.Contains(onDiskAtUp, name) {
			compressedOnly++
		}
	}
	return behind, compressedOnly
}
