package integration

// Helpers for the shipper tests (ship_*_test.go): a real `cis490 ship`
// process, a writer that appends to and rotates the shipped files while
// keeping every byte it wrote, and the checks that a stream holds exactly
// those bytes.

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	shipHost = "it-ship"
	// shipRotateEvery is the least time between two rotations of one file:
	// the shipper waits a second of quiet after a rename before it moves on.
	shipRotateEvery = 1500 * time.Millisecond
)

// ---------------------------------------------------------------------------
// The shipper as a real process.

type shipperProc struct {
	t       *testing.T
	rcv     *receiverProc
	bundle  string // the host bundle from `ca issue`: host.crt, host.key, ca.crt, token
	cfgPath string
	logPath string
	state   string
	sources []shipSourceCfg

	maxWait string // batch.max_wait; default 150ms

	url    string // the receiver URL the running process was given
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
	kills  int
}

type shipSourceCfg struct{ path, stream string }

func newShipperProc(t *testing.T, rcv *receiverProc, bundle, dir string, sources []shipSourceCfg) *shipperProc {
	p := &shipperProc{t: t, rcv: rcv, bundle: bundle, sources: sources,
		cfgPath: filepath.Join(bundle, "ship-it.toml"), logPath: filepath.Join(dir, "ship.log"),
		state: filepath.Join(dir, "ship-state")}
	t.Cleanup(func() {
		if p.running() {
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("shipper log (%s), without its retries and failed heartbeats:\n%s", p.logPath, shipLogDigest(p.logPath, 200))
			cps, _ := filepath.Glob(filepath.Join(p.state, "checkpoints", "*.json"))
			for _, c := range cps {
				b, _ := os.ReadFile(c)
				t.Logf("checkpoint %s: %s", filepath.Base(c), bytes.TrimSpace(b))
			}
		}
	})
	return p
}

// shipLogDigest is the last lines of the shipper's log, each run of
// "ship failed; will retry" or "heartbeat failed" lines folded into a count.
func shipLogDigest(path string, lines int) string {
	b, _ := os.ReadFile(path)
	var out []string
	retries := 0
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if strings.Contains(l, `msg="ship failed; will retry"`) || strings.Contains(l, `msg="heartbeat failed"`) {
			retries++
			continue
		}
		if retries > 0 {
			out = append(out, fmt.Sprintf("(%d failed sends and heartbeats)", retries))
			retries = 0
		}
		out = append(out, l)
	}
	if retries > 0 {
		out = append(out, fmt.Sprintf("(%d failed sends and heartbeats)", retries))
	}
	if len(out) > lines {
		out = out[len(out)-lines:]
	}
	return strings.Join(out, "\n")
}

// writeConfig writes the lab-host.toml that `ca issue` put in the bundle
// (relative TLS paths) with the receiver's current URL, this test's
// state_dir, heartbeat and batch, and this test's sources in place of the
// bundle's defaults.
func (p *shipperProc) writeConfig() {
	base, err := os.ReadFile(filepath.Join(p.bundle, "lab-host.toml"))
	if err != nil {
		p.t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range strings.SplitAfter(string(base), "\n") {
		switch {
		case strings.HasPrefix(l, "receiver = "):
			fmt.Fprintf(&b, "receiver = %q\n", p.rcv.URL())
		case strings.HasPrefix(l, "host = "):
			b.WriteString(l)
			fmt.Fprintf(&b, "state_dir = %q\nheartbeat = \"2s\"\n", p.state)
		case l == "[[source]]\n" || strings.HasPrefix(l, "path = ") || strings.HasPrefix(l, "state_dir = "):
			// the bundle's default source and state (this test's are above and below)
		default:
			b.WriteString(l)
		}
	}
	fmt.Fprintf(&b, "\n[batch]\nmax_bytes = \"48KiB\"\nmax_wait = %q\n", cmp.Or(p.maxWait, "150ms"))
	for _, s := range p.sources {
		fmt.Fprintf(&b, "\n[[source]]\npath = %q\n", s.path)
		if s.stream != "" {
			fmt.Fprintf(&b, "stream = %q\n", s.stream)
		}
	}
	if err := os.WriteFile(p.cfgPath, []byte(b.String()), 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.url = p.rcv.URL()
}

func (p *shipperProc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Start starts `cis490 ship` with the same config and state every time.
func (p *shipperProc) Start() {
	p.t.Helper()
	if p.running() {
		p.t.Fatal("shipper already running")
	}
	p.writeConfig()
	p.starts++
	logf, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== start %d at %s\n", p.starts, time.Now().Format("15:04:05.000"))
	cmd := exec.Command(binPath, "ship", "--config", p.cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	err = cmd.Start()
	logf.Close()
	if err != nil {
		p.t.Fatalf("start shipper: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited
}

// Kill sends SIGKILL and waits for the process to be gone. A shipper that
// exited on its own before fails the test: it must run until stopped.
func (p *shipperProc) Kill() {
	p.t.Helper()
	if !p.running() {
		p.t.Errorf("the shipper (start %d) exited on its own: %v\nlog:\n%s", p.starts, p.cmd.ProcessState, tailFile(p.logPath, 30))
		return
	}
	p.kills++
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Fatal("shipper still running 10s after SIGKILL")
	}
}

// ---------------------------------------------------------------------------
// The writer: appends lines to the source files and rotates them, keeping
// per stream the exact concatenation of every byte written.

type shipGen struct {
	n     int
	start int64  // stream offset of its first byte
	how   string // how it began: "new", "rename" or "copytruncate"
}

type shipSource struct {
	stream string
	path   string
	f      *os.File
	gen    int
	seq    int
	want   []byte
	gens   []shipGen

	nextRotate          time.Time
	renames, copytruncs int
	late                int // rename rotations with bytes written to the old file after the rename
}

type shipWriter struct {
	rng     *rand.Rand
	filler  []byte
	sources []*shipSource
	lines   int
	maxLine int // when > 0, no line has more filler bytes than this
}

func newShipWriter(t *testing.T, seed int64, sources []*shipSource) *shipWriter {
	w := &shipWriter{rng: rand.New(rand.NewPCG(uint64(seed), 0x5815)), sources: sources}
	w.filler = make([]byte, 256<<10)
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;=/-_"
	for i := range w.filler {
		w.filler[i] = alphabet[w.rng.IntN(len(alphabet))]
	}
	now := time.Now()
	for _, s := range sources {
		f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		s.f = f
		s.gens = []shipGen{{n: 0, start: 0, how: "new"}}
		s.nextRotate = now.Add(shipRotateEvery + time.Duration(w.rng.Int64N(int64(2*time.Second))))
	}
	return w
}

// line makes the next line of s: it starts with its generation, stream and
// number, so that every generation's first bytes differ.
func (w *shipWriter) line(s *shipSource) []byte {
	n := int(logSize(w.rng, 2048))
	switch p := w.rng.IntN(1000); {
	case p < 4:
		n = 24<<10 + w.rng.IntN(64<<10) // bigger than a batch
	case p < 80:
		n = 2048 + w.rng.IntN(8<<10)
	}
	if w.maxLine > 0 {
		n = min(n, w.maxLine)
	}
	return w.lineOf(s, n)
}

// lineOf is the next line of s with n filler bytes.
func (w *shipWriter) lineOf(s *shipSource, n int) []byte {
	s.seq++
	b := fmt.Appendf(nil, "g%04d %s n%07d ", s.gen, s.stream, s.seq)
	for n > 0 {
		off := w.rng.IntN(len(w.filler))
		k := min(n, len(w.filler)-off)
		b = append(b, w.filler[off:off+k]...)
		n -= k
	}
	return append(b, '\n')
}

func (w *shipWriter) write(s *shipSource) error {
	b := w.line(s)
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	s.want = append(s.want, b...)
	w.lines++
	return nil
}

// shift renames path.k to path.k+1, highest first, as logrotate does: every
// rotated copy stays on disk.
func shift(path string) error {
	k := 0
	for {
		if _, err := os.Lstat(path + "." + strconv.Itoa(k+1)); err != nil {
			break
		}
		k++
	}
	for ; k >= 1; k-- {
		if err := os.Rename(path+"."+strconv.Itoa(k), path+"."+strconv.Itoa(k+1)); err != nil {
			return err
		}
	}
	return nil
}

// rotate rotates s by how ("rename" or "copytruncate"; empty: either).
func (w *shipWriter) rotate(s *shipSource, how string) error {
	if err := shift(s.path); err != nil {
		return err
	}
	if how == "" {
		how = "rename"
		if w.rng.IntN(2) == 0 {
			how = "copytruncate"
		}
	}
	switch how {
	case "rename":
		if err := os.Rename(s.path, s.path+".1"); err != nil {
			return err
		}
		// A writer that has not reopened yet still writes to the old file.
		if w.rng.IntN(3) == 0 {
			s.late++
			for range 1 + w.rng.IntN(3) {
				if err := w.write(s); err != nil {
					return err
				}
			}
		}
		if err := s.f.Close(); err != nil {
			return err
		}
		f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		s.f = f
		s.renames++
	case "copytruncate":
		src, err := os.Open(s.path)
		if err != nil {
			return err
		}
		dst, err := os.OpenFile(s.path+".1", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			src.Close()
			return err
		}
		_, err = io.Copy(dst, src)
		src.Close()
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		// O_APPEND: the next write lands at the new end, offset 0.
		if err := s.f.Truncate(0); err != nil {
			return err
		}
		s.copytruncs++
	}
	s.gen++
	s.seq = 0
	s.gens = append(s.gens, shipGen{n: s.gen, start: int64(len(s.want)), how: how})
	return nil
}

// close closes the files the writer holds open.
func (w *shipWriter) close() error {
	for _, s := range w.sources {
		if err := s.f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// The checks.

// shipDiff describes how got differs from want in terms of the generations
// and lines written: what is missing, repeated or foreign.
func shipDiff(s *shipSource, got []byte) string {
	want := s.want
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	if i == len(got) && i == len(want) {
		return ""
	}
	genAt := func(off int64) string {
		g := s.gens[0]
		for _, x := range s.gens {
			if x.start <= off {
				g = x
			}
		}
		return fmt.Sprintf("generation %d (begun by %s at stream offset %d)", g.n, g.how, g.start)
	}
	lineAt := func(b []byte, off int) string {
		if off >= len(b) {
			return "end of stream"
		}
		st := bytes.LastIndexByte(b[:off], '\n') + 1
		return fmt.Sprintf("%q at +%d into line %q", clip(b[off:], 24), off-st, clip(b[st:], 24))
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "stream %s: stored %d bytes, written %d; they agree on the first %d bytes", s.stream, len(got), len(want), i)
	if i < len(want) {
		fmt.Fprintf(&msg, "\n  written at %d: %s, %s", i, lineAt(want, i), genAt(int64(i)))
	}
	if i < len(got) {
		fmt.Fprintf(&msg, "\n  stored  at %d: %s", i, lineAt(got, i))
		// Where do the stored bytes from i come from?
		probe := got[i:min(len(got), i+256)]
		if j := bytes.Index(want, probe); j >= 0 {
			if j > i {
				fmt.Fprintf(&msg, "\n  => written bytes [%d, %d) are missing (%d bytes, from %s to %s); the stream goes on with the bytes written at %d",
					i, j, j-i, genAt(int64(i)), genAt(int64(j-1)), j)
			} else {
				fmt.Fprintf(&msg, "\n  => the bytes written at [%d, ...) are stored again at %d (a duplicate; %s)", j, i, genAt(int64(j)))
			}
		} else {
			fmt.Fprintf(&msg, "\n  => the stored bytes at %d were never written in this order", i)
		}
	} else {
		fmt.Fprintf(&msg, "\n  => the stream stops %d bytes short (the written tail from %s is missing)", len(want)-i, genAt(int64(i)))
	}
	return msg.String()
}

// shipRig is a receiver, one host shipping sources with a real
// `cis490 ship`, and the writer of those sources.
type shipRig struct {
	t       *testing.T
	seed    int64
	f       *fleet
	sp      *shipperProc
	w       *shipWriter
	sources []*shipSource
	logDir  string
}

// newShipRig makes the fleet and the source files (empty) and starts the
// receiver; the shipper is not started. Stream names: the base name of
// each path, or name=path's part before '=' when given as "name=file".
func newShipRig(t *testing.T, seed int64, files ...string) *shipRig {
	t.Helper()
	f := newFleet(t, []string{shipHost}, true)
	r := &shipRig{t: t, seed: seed, f: f, logDir: filepath.Join(f.dir, "var-log")}
	if err := os.MkdirAll(r.logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var cfgs []shipSourceCfg
	for _, file := range files {
		c := shipSourceCfg{path: filepath.Join(r.logDir, file)}
		if name, base, ok := strings.Cut(file, "="); ok {
			c = shipSourceCfg{path: filepath.Join(r.logDir, base), stream: name}
		}
		name := c.stream
		if name == "" {
			name = filepath.Base(c.path)
		}
		cfgs = append(cfgs, c)
		r.sources = append(r.sources, &shipSource{stream: name, path: c.path})
	}
	r.w = newShipWriter(t, seed, r.sources)
	t.Cleanup(func() { r.w.close() })
	r.sp = newShipperProc(t, f.rcv, filepath.Join(f.dir, "bundles", shipHost), f.dir, cfgs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("source files:\n%s", r.listFiles())
		}
	})
	f.rcv.Start()
	return r
}

// listFiles describes the source folder: name, inode, size, first bytes.
func (r *shipRig) listFiles() string {
	ents, _ := os.ReadDir(r.logDir)
	var b strings.Builder
	for _, e := range ents {
		p := filepath.Join(r.logDir, e.Name())
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		head := make([]byte, 24)
		if fh, err := os.Open(p); err == nil {
			n, _ := fh.Read(head)
			head = head[:n]
			fh.Close()
		}
		fmt.Fprintf(&b, "  %-12s inode %-9d %8d bytes  %q\n", e.Name(), st.Sys().(*syscall.Stat_t).Ino, st.Size(), head)
	}
	return b.String()
}

func (r *shipRig) lengths() []int64 {
	out := make([]int64, len(r.sources))
	for i, s := range r.sources {
		out[i], _ = r.f.admin.head(shipHost, s.stream)
	}
	return out
}

// waitIdle lets the shipper run until every stream is as long as what was
// written (and still so a moment later, when a duplicate would show), or
// until no stream has grown for longer than the shipper's slowest
// fallback poll (10 s), or limit. It returns the lengths and how long the
// streams kept growing.
func (r *shipRig) waitIdle(limit time.Duration) ([]int64, time.Duration) {
	r.t.Helper()
	began := time.Now()
	lastChange := began
	done := func(ls []int64) bool {
		for i, s := range r.sources {
			if ls[i] < int64(len(s.want)) {
				return false
			}
		}
		return true
	}
	ls := r.lengths()
	for !done(ls) && time.Since(began) < limit && time.Since(lastChange) < 12*time.Second && r.sp.running() {
		time.Sleep(100 * time.Millisecond)
		next := r.lengths()
		if !slices.Equal(next, ls) {
			lastChange = time.Now()
		}
		ls = next
	}
	if !r.sp.running() {
		r.t.Errorf("the shipper exited on its own: %v", r.sp.cmd.ProcessState)
	}
	if done(ls) {
		time.Sleep(1500 * time.Millisecond)
		if next := r.lengths(); !slices.Equal(next, ls) {
			lastChange = time.Now()
			ls = next
		}
	} else {
		r.t.Errorf("the streams stopped short of what was written (lengths %v; last grew %s after the wait began; seed %d)",
			ls, lastChange.Sub(began).Round(time.Millisecond), r.seed)
	}
	return ls, lastChange.Sub(began)
}

// verify reads every stream with admin credentials and compares it, byte
// for byte, with what was written to its file.
func (r *shipRig) verify(ls []int64) int64 {
	r.t.Helper()
	var total int64
	for i, s := range r.sources {
		got, err := r.f.admin.readAll(shipHost, s.stream, ls[i])
		if err != nil {
			r.t.Errorf("read %s: %v", s.stream, err)
			continue
		}
		total += int64(len(got))
		if d := shipDiff(s, got); d != "" {
			r.t.Errorf("seed %d: %s", r.seed, d)
		}
	}
	return total
}
