package shipper

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gzipFile compresses src into dst and removes src, as logrotate's
// compress does; cut leaves dst short of its last cut bytes (a copy
// logrotate is still writing).
func gzipFile(t *testing.T, src, dst string, cut int) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	z := []byte(buf.String())
	if err := os.WriteFile(dst, z[:len(z)-cut], 0o644); err != nil {
		t.Fatal(err)
	}
	if cut == 0 {
		os.Remove(src)
	}
}

// rotateCompressed does logrotate's rotate 5 with compress, and with
// delaycompress when delay (Debian's own configs): shift the compressed
// copies up, compress the previous .1 (delay) or the file itself, and
// start a new file the writer writes content to.
func rotateCompressed(t *testing.T, p string, delay bool, content string) {
	t.Helper()
	os.Remove(p + ".5.gz")
	for i := 4; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d.gz", p, i), fmt.Sprintf("%s.%d.gz", p, i+1))
	}
	if delay {
		if _, err := os.Stat(p + ".1"); err == nil {
			gzipFile(t, p+".1", p+".2.gz", 0)
		}
		if err := os.Rename(p, p+".1"); err != nil {
			t.Fatal(err)
		}
	} else {
		if err := os.Rename(p, p+".1"); err != nil {
			t.Fatal(err)
		}
		gzipFile(t, p+".1", p+".1.gz", 0)
	}
	appendTo(t, p, content)
}

// pastA1 follows a new app.log holding "A1\n" and reads it: the follower
// is at the end of its first generation.
func pastA1(t *testing.T) (string, *follower, *time.Time) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app.log")
	appendTo(t, p, "A1\n")
	fl, clock := testFollower(p)
	t.Cleanup(fl.close)
	drain(t, fl, clock, 64)
	return p, fl, clock
}

// drainRounds is drain n times over: a follower several rotations behind
// may rest between them.
func drainRounds(t *testing.T, fl *follower, clock *time.Time, n int) []byte {
	t.Helper()
	var got []byte
	for range n {
		b, _ := drain(t, fl, clock, 64)
		got = append(got, b...)
	}
	return got
}

// TestFollowCompressedGenerations: a follower four rotations behind a
// compressing logrotate (its generations compressed and their plain
// copies deleted before it read them) finds each in its .gz, by its
// decompressed first bytes, and reads every byte once, in order, whether
// it kept running or was restarted from its checkpoint.
func TestFollowCompressedGenerations(t *testing.T) {
	for _, delay := range []bool{true, false} {
		for _, restart := range []bool{false, true} {
			name := map[bool]string{true: "delaycompress", false: "compress"}[delay] + map[bool]string{false: "/running", true: "/restarted"}[restart]
			t.Run(name, func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "app.log")
				appendTo(t, p, "A1\nA2\n")
				fl, clock := testFollower(p)
				defer func() { fl.close() }()
				fl.start()
				if c, err := fl.next(3); err != nil || string(c.Data) != "A1\n" {
					t.Fatal(c, err)
				}
				id := fl.cur.id
				if restart {
					fl.close()
				}
				for _, g := range []string{"B", "C", "D", "E"} {
					rotateCompressed(t, p, delay, g+"1\n"+g+"2\n")
				}
				if restart {
					fl, clock = testFollower(p)
					if lost, err := fl.resume(id, 3, 6); err != nil || lost != 0 {
						t.Fatalf("resume: lost %d, %v", lost, err)
					}
				}
				got, gens := drain(t, fl, clock, 64)
				if want := "A2\nB1\nB2\nC1\nC2\nD1\nD2\nE1\nE2\n"; string(got) != want || gens != 4 {
					t.Fatalf("read %q in %d new generations; want %q in 4", got, gens, want)
				}
			})
		}
	}
}

// TestFollowWaitsForACompressedCopyToComplete: the next generation's only
// copy is a .gz logrotate is still writing; the follower waits for it
// rather than skip to the live file, then reads it whole.
func TestFollowWaitsForACompressedCopyToComplete(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	appendTo(t, p, "A1\n")
	fl, clock := testFollower(p)
	defer fl.close()
	if got, _ := drain(t, fl, clock, 64); string(got) != "A1\n" {
		t.Fatalf("read %q", got)
	}
	fl.close()
	fl, clock = testFollower(p)
	defer fl.close()
	id, _ := func() (Ident, error) { f, _ := os.Open(p); defer f.Close(); return identify(f) }()
	// A is done and renamed away; B came and was compressed, half written.
	os.Rename(p, p+".2")
	appendTo(t, p+".1", "B1\nB2\n")
	gzipFile(t, p+".1", p+".1.gz", 8)
	os.Remove(p + ".1")
	appendTo(t, p, "C1\n")
	if lost, err := fl.resume(id, 3, 3); err != nil || lost != 0 {
		t.Fatal(lost, err)
	}
	if got, _ := drain(t, fl, clock, 64); len(got) != 0 {
		t.Fatalf("read %q past a .gz still being written; want nothing until it is complete", got)
	}
	os.WriteFile(p+".1", []byte("B1\nB2\n"), 0o644)
	gzipFile(t, p+".1", p+".1.gz", 0)
	if got, _ := drain(t, fl, clock, 64); string(got) != "B1\nB2\nC1\n" {
		t.Fatalf("read %q; want B then C", got)
	}
}

// TestFollowPrefersThePlainCopy: while logrotate compresses a copy, both
// the plain copy and a complete .gz of it may be there: the generation is
// read once.
func TestFollowPrefersThePlainCopy(t *testing.T) {
	p, fl, clock := pastA1(t)
	os.Rename(p, p+".2")
	appendTo(t, p+".1", "B1\n")
	b, _ := os.ReadFile(p + ".1")
	gzipFile(t, p+".1", p+".1.gz", 0)
	os.WriteFile(p+".1", b, 0o644) // the plain copy is not deleted yet
	appendTo(t, p, "C1\n")
	if got, gens := drain(t, fl, clock, 64); string(got) != "B1\nC1\n" || gens != 2 {
		t.Fatalf("read %q in %d generations; want B1 C1 in 2", got, gens)
	}
}

// TestFollowAQuietFileAfterRotation: after a rotation a quiet log stays
// empty for a while. The follower waits for its first line however long
// that takes, rather than know the generation by no bytes at all: an empty
// fingerprint is the start of every file, so when that generation is
// compressed before the follower finished it, its .gz cannot be told for
// its own and was read again after it (before empty fingerprints were
// kept from matching, the copies after it were skipped instead).
func TestFollowAQuietFileAfterRotation(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	appendTo(t, p+".1", "Z1\n")
	gzipFile(t, p+".1", p+".1.gz", 0) // an older generation
	appendTo(t, p, "")
	fl, clock := testFollower(p)
	defer fl.close()
	fl.start()
	*clock = clock.Add(settleTime + time.Second)
	if c, err := fl.next(64); err == nil || fl.cur != nil {
		t.Fatalf("an empty file was taken for a generation: %+v %v", c, err)
	}
	appendTo(t, p, "A1\nA2\n")
	if c, err := fl.next(3); err != nil || string(c.Data) != "A1\n" || c.Gen.FPLen != 6 {
		t.Fatalf("first chunk: %+v %v", c, err)
	}
	for _, g := range []string{"B", "C"} {
		rotateCompressed(t, p, false, g+"1\n")
	}
	if got, _ := drain(t, fl, clock, 64); string(got) != "A2\nB1\nC1\n" {
		t.Fatalf("read %q; want A2 B1 C1", got)
	}
}

// TestFollowSkipsAnEmptyCompressedGeneration: a log quiet across a
// rotation leaves an empty generation, which logrotate (ifempty, its
// default) rotates and compresses like any other. A follower behind it
// reads the generations after it in the same look, as the stream does
// after every generation: taken as a generation of its own, the empty one
// yielded nothing and left the stream to its minute-long fallback poll.
func TestFollowSkipsAnEmptyCompressedGeneration(t *testing.T) {
	for _, delay := range []bool{true, false} {
		t.Run(map[bool]string{true: "delaycompress", false: "compress"}[delay], func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "app.log")
			appendTo(t, p, "A1\nA2\n")
			fl, clock := testFollower(p)
			defer func() { fl.close() }()
			fl.start()
			if c, err := fl.next(3); err != nil || string(c.Data) != "A1\n" {
				t.Fatal(c, err)
			}
			for _, content := range []string{"B1\n", "", "C1\n", "D1\n"} {
				rotateCompressed(t, p, delay, content)
			}
			got, gens := drain(t, fl, clock, 64)
			if want := "A2\nB1\nC1\nD1\n"; string(got) != want || gens != 3 {
				t.Fatalf("read %q in %d new generations; want %q in 3", got, gens, want)
			}
		})
	}
}
