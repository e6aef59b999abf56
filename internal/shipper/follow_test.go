package shipper

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testFollower follows path with a clock the test moves, starting at the
// real time: the files the test writes carry real modification times.
func testFollower(path string) (*follower, *time.Time) {
	now := time.Now()
	fl := newFollower(path, slog.New(slog.DiscardHandler))
	fl.now = func() time.Time { return now }
	return fl, &now
}

// drain reads everything ready now, advancing the clock past the rotation
// grace when the follower waits for it; it returns the bytes and how many
// generations began.
func drain(t *testing.T, fl *follower, clock *time.Time, max int) ([]byte, int) {
	t.Helper()
	var out []byte
	gens := 0
	for range 1000 {
		c, err := fl.next(max)
		if errors.Is(err, errNothing) {
			before := len(out)
			*clock = clock.Add(RotationGrace + time.Millisecond)
			c, err = fl.next(max)
			if errors.Is(err, errNothing) {
				if len(out) == before {
					return out, gens
				}
				continue
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.New {
			gens++
		}
		out = append(out, c.Data...)
	}
	t.Fatal("drain did not settle")
	return nil, 0
}

func appendTo(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}

func TestFollowGrowth(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	fl, clock := testFollower(p)
	defer fl.close()
	if got, _ := drain(t, fl, clock, 7); len(got) != 0 {
		t.Fatalf("no file yet, read %q", got)
	}
	appendTo(t, p, "line one\n")
	appendTo(t, p, "line two\n")
	got, gens := drain(t, fl, clock, 7)
	if string(got) != "line one\nline two\n" || gens != 1 {
		t.Fatalf("read %q in %d generations", got, gens)
	}
	appendTo(t, p, "three\n")
	if got, gens := drain(t, fl, clock, 7); string(got) != "three\n" || gens != 0 {
		t.Fatalf("then %q, %d new generations", got, gens)
	}
}

// TestFollowRename: logrotate renames the file; the writer keeps writing to
// the old one until it reopens. Every byte comes once, old before new.
func TestFollowRename(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	appendTo(t, p, "old 1\nold 2\n")
	fl, clock := testFollower(p)
	defer fl.close()
	fl.start()
	got, _ := drain(t, fl, clock, 5)
	w, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0) // the writer's descriptor
	os.Rename(p, p+".1")
	appendTo(t, p, "new 1\n")
	if _, err := fl.next(5); !errors.Is(err, errNothing) { // sees the rotation, waits
		t.Fatalf("right after the rotation next = %v; want to wait for late writes", err)
	}
	*clock = clock.Add(RotationGrace / 2)
	w.WriteString("late old\n") // the writer has not reopened yet
	rest, gens := drain(t, fl, clock, 5)
	w.Close()
	got = append(got, rest...)
	if string(got) != "old 1\nold 2\nlate old\nnew 1\n" || gens != 1 {
		t.Fatalf("read %q with %d new generations", got, gens)
	}
}

// TestFollowCopytruncate: the bytes not yet read when the file was copied
// and truncated come from the copy, then the truncated file goes on.
func TestFollowCopytruncate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	first := bytes.Repeat([]byte("012345678\n"), 10)
	os.WriteFile(p, first, 0o644)
	fl, clock := testFollower(p)
	defer fl.close()
	fl.start()
	c, err := fl.next(40) // only part of it before rotation
	if err != nil || len(c.Data) != 40 {
		t.Fatal(c, err)
	}
	os.WriteFile(p+".1", first, 0o644) // copy
	os.Truncate(p, 0)                  // truncate
	// It grows again past where the follower stood before it looks.
	after := bytes.Repeat([]byte("after rotation\n"), 5)
	appendTo(t, p, string(after))
	rest, gens := drain(t, fl, clock, 33)
	if !bytes.Equal(rest, append(first[40:], after...)) || gens != 1 {
		t.Fatalf("after copytruncate read %q with %d new generations", rest, gens)
	}
}

// TestFollowInodeReuse: a file deleted and replaced (possibly in the same
// inode) with other bytes is a new generation, read from its start.
func TestFollowInodeReuse(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	appendTo(t, p, "first file\n")
	fl, clock := testFollower(p)
	defer fl.close()
	fl.start()
	drain(t, fl, clock, 64)
	os.Remove(p)
	appendTo(t, p, "second file, longer than the first\n")
	got, gens := drain(t, fl, clock, 64)
	if string(got) != "second file, longer than the first\n" || gens != 1 {
		t.Fatalf("read %q with %d new generations", got, gens)
	}
}

func TestFollowResume(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	appendTo(t, p, "012345678\n")
	fl, clock := testFollower(p)
	fl.start()
	id := fl.cur.id
	fl.close()

	// Resume at an acknowledged offset of the same generation.
	fl2, clock2 := testFollower(p)
	defer fl2.close()
	if lost, err := fl2.resume(id, 4, 10); err != nil || lost != 0 {
		t.Fatal(lost, err)
	}
	if got, _ := drain(t, fl2, clock2, 64); string(got) != "45678\n" {
		t.Fatalf("resumed read %q", got)
	}
	_ = clock

	// The generation was rotated away (renamed): resume from the copy, then
	// go on to the new file.
	os.Rename(p, p+".1")
	appendTo(t, p, "next\n")
	fl3, clock3 := testFollower(p)
	defer fl3.close()
	if lost, err := fl3.resume(id, 7, 10); err != nil || lost != 0 {
		t.Fatal(lost, err)
	}
	if got, gens := drain(t, fl3, clock3, 64); string(got) != "78\nnext\n" || gens != 1 {
		t.Fatalf("resume across rotation read %q, %d new generations", got, gens)
	}

	// Gone entirely: the loss is reported and the current file is read.
	os.Remove(p + ".1")
	fl4, clock4 := testFollower(p)
	defer fl4.close()
	if lost, err := fl4.resume(id, 7, 10); err != nil || lost != 3 {
		t.Fatalf("lost = %d, %v; want 3", lost, err)
	}
	if got, _ := drain(t, fl4, clock4, 64); string(got) != "next\n" {
		t.Fatalf("after loss read %q", got)
	}
}

// rotate does what logrotate does with rotate 3: shift the numbered
// copies up, then rename the file to .1 and start a new one, or copy it to
// .1 and truncate it; then the writer writes content.
func rotate(t *testing.T, p, how, content string) {
	t.Helper()
	for i := 2; i >= 1; i-- {
		os.Rename(p+"."+strconv.Itoa(i), p+"."+strconv.Itoa(i+1))
	}
	switch how {
	case "rename":
		if err := os.Rename(p, p+".1"); err != nil {
			t.Fatal(err)
		}
	case "copytruncate":
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p+".1", b, 0o644)
		os.Truncate(p, 0)
	}
	appendTo(t, p, content)
}

// TestFollowTwoRotationsBehind: when a file was rotated twice before the
// follower finished it (a stopped shipper, a burst of rotations), the
// generation in between is read from its rotated copy, in order. The
// rotations come within microseconds, so the files' modification times
// are mostly equal: the order must not rest on them alone.
func TestFollowTwoRotationsBehind(t *testing.T) {
	for _, hows := range [][2]string{
		{"rename", "rename"}, {"copytruncate", "copytruncate"},
		{"rename", "copytruncate"}, {"copytruncate", "rename"},
	} {
		for _, restart := range []bool{false, true} {
			name := hows[0] + "+" + hows[1] + map[bool]string{false: "/running", true: "/restarted"}[restart]
			t.Run(name, func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "app.log")
				appendTo(t, p, "A1\nA2\n")
				fl, clock := testFollower(p)
				defer func() { fl.close() }()
				fl.start()
				c, err := fl.next(3)
				if err != nil || string(c.Data) != "A1\n" {
					t.Fatal(c, err)
				}
				id := fl.cur.id
				if restart {
					fl.close()
				}
				rotate(t, p, hows[0], "B1\n")
				rotate(t, p, hows[1], "C1\n")
				if restart {
					fl, clock = testFollower(p)
					if lost, err := fl.resume(id, 3, 6); err != nil || lost != 0 {
						t.Fatal(lost, err)
					}
				}
				got, gens := drain(t, fl, clock, 64)
				if string(got) != "A2\nB1\nC1\n" || gens != 2 {
					t.Fatalf("read %q in %d new generations; want A2 B1 C1 in 2", got, gens)
				}
			})
		}
	}
}

// TestFollowIgnoresOlderCopies: a rotated copy already beside the file when
// the follower started is not a generation after it, even if it was
// written later.
func TestFollowIgnoresOlderCopies(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	appendTo(t, p, "current\n")
	time.Sleep(10 * time.Millisecond)
	appendTo(t, p+".1", "restored by hand, already shipped\n")
	fl, clock := testFollower(p)
	defer fl.close()
	fl.start()
	drain(t, fl, clock, 64)
	os.Rename(p, p+".2")
	appendTo(t, p, "next\n")
	if got, gens := drain(t, fl, clock, 64); string(got) != "next\n" || gens != 1 {
		t.Fatalf("read %q in %d new generations; want only the new file", got, gens)
	}
}

// TestFollowWaitsForAFirstLine: a file is known by its first line, not by
// the first few bytes of one (which start many files alike: after a crash
// a new file would pass for the old); one that never completes a line is
// taken once it has been left alone a while.
func TestFollowWaitsForAFirstLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	fl := newFollower(p, slog.New(slog.DiscardHandler))
	now := time.Now()
	fl.now = func() time.Time { return now }
	defer fl.close()
	appendTo(t, p, "g000")
	if err := fl.start(); err != nil || fl.cur != nil {
		t.Fatalf("a file with 4 bytes and no line was identified: %v", err)
	}
	if _, err := fl.next(64); !errors.Is(err, errNothing) {
		t.Fatalf("next on a file without a line: %v", err)
	}
	appendTo(t, p, "2 the first line\n")
	c, err := fl.next(64)
	if err != nil || string(c.Data) != "g0002 the first line\n" || !c.New || c.Gen.FPLen != len("g0002 the first line\n") {
		t.Fatalf("after the first line: %+v %v", c, err)
	}

	q := filepath.Join(t.TempDir(), "partial.log")
	appendTo(t, q, "no newline ever")
	fq := newFollower(q, slog.New(slog.DiscardHandler))
	fq.now = func() time.Time { return now }
	defer fq.close()
	if fq.start(); fq.cur != nil {
		t.Fatal("a fresh file without a line was identified at once")
	}
	now = now.Add(settleTime + time.Second)
	if c, err := fq.next(64); err != nil || string(c.Data) != "no newline ever" {
		t.Fatalf("a settled file without a line: %+v %v", c, err)
	}
}

// TestFollowFileTimesOffTheClock: a laptop whose clock NTP corrected by a
// year, either way, has files stamped far ahead of or behind its clock. The
// follower ships them all the same and promptly: a file with a line at
// once, one without a line once the follower itself has seen it left alone
// for settleTime (never once the clock catches up with the file), and the
// file that replaces it at the next rotation, stamped by the corrected
// clock, after it.
func TestFollowFileTimesOffTheClock(t *testing.T) {
	const year = 365 * 24 * time.Hour
	for _, skew := range []time.Duration{year, -year} {
		for _, first := range []string{"written before the correction\n", "no line yet"} {
			t.Run(fmt.Sprintf("%v/%q", skew, first), func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "app.log")
				appendTo(t, p, first)
				fl, clock := testFollower(p)
				defer fl.close()
				stamp := clock.Add(skew)
				if err := os.Chtimes(p, stamp, stamp); err != nil {
					t.Fatal(err)
				}
				// Poll as a stream does, a quarter second apart, for as
				// long as a file may be made to wait.
				start := *clock
				var got []byte
				for clock.Sub(start) <= settleTime+time.Second && len(got) < len(first) {
					c, err := fl.next(64)
					switch {
					case err == nil:
						got = append(got, c.Data...)
					case !errors.Is(err, errNothing):
						t.Fatal(err)
					default:
						if d := fl.settleWait(); d <= 0 || d > settleTime {
							t.Fatalf("waiting on a file without a line, the stream is told to look again in %v", d)
						}
						*clock = clock.Add(250 * time.Millisecond)
					}
				}
				if string(got) != first {
					t.Fatalf("after %v read %q; want %q", clock.Sub(start), got, first)
				}
				if took := clock.Sub(start); strings.HasSuffix(first, "\n") && took != 0 {
					t.Fatalf("a file with a line waited %v", took)
				}

				os.Rename(p, p+".1")
				appendTo(t, p, "after the rotation\n")
				if got, gens := drain(t, fl, clock, 64); string(got) != "after the rotation\n" || gens != 1 {
					t.Fatalf("after the rotation read %q in %d new generations", got, gens)
				}
			})
		}
	}
}

// TestFollowRotationsAfterAClockStep: a generation written while the clock
// ran a year off, then two rotations after NTP corrected it while the
// shipper was stopped. The generation in between is read, in order,
// though its copy's time puts it before (or far after) the one it
// followed.
func TestFollowRotationsAfterAClockStep(t *testing.T) {
	const year = 365 * 24 * time.Hour
	for _, skew := range []time.Duration{year, -year} {
		for _, how := range []string{"rename", "copytruncate"} {
			t.Run(fmt.Sprintf("%v/%s", skew, how), func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "app.log")
				appendTo(t, p, "A1\nA2\n")
				fl, _ := testFollower(p)
				stamp := time.Now().Add(skew)
				if err := os.Chtimes(p, stamp, stamp); err != nil {
					t.Fatal(err)
				}
				fl.start()
				if c, err := fl.next(3); err != nil || string(c.Data) != "A1\n" {
					t.Fatal(c, err)
				}
				id := fl.cur.id
				fl.close()
				rotate(t, p, how, "B1\n")
				rotate(t, p, how, "C1\n")
				fl, clock := testFollower(p)
				defer fl.close()
				if lost, err := fl.resume(id, 3, 6); err != nil || lost != 0 {
					t.Fatal(lost, err)
				}
				if got, gens := drain(t, fl, clock, 64); string(got) != "A2\nB1\nC1\n" || gens != 2 {
					t.Fatalf("read %q in %d new generations; want A2 B1 C1 in 2", got, gens)
				}
			})
		}
	}
}

// TestFollowGenerationBornWhileWaiting: after a rename the file at the path
// is new and still empty, so the follower has no generation to read; then,
// before it looks again (a stream backing off from a receiver that is
// down), that file gets its lines and is rotated away in turn. The
// generation born and rotated while the follower waited is read from its
// copy, between the one before and the one after it.
func TestFollowGenerationBornWhileWaiting(t *testing.T) {
	for _, how := range []string{"rename", "copytruncate"} {
		t.Run(how, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "app.log")
			appendTo(t, p, "A1\n")
			fl, clock := testFollower(p)
			defer fl.close()
			fl.start()
			if got, _ := drain(t, fl, clock, 64); string(got) != "A1\n" {
				t.Fatalf("read %q", got)
			}
			rotate(t, p, "rename", "") // a new, empty file at the path
			if got, gens := drain(t, fl, clock, 64); len(got) != 0 || gens != 0 {
				t.Fatalf("read %q in %d generations from an empty file", got, gens)
			}
			appendTo(t, p, "B1\n")
			rotate(t, p, how, "C1\n")
			if got, gens := drain(t, fl, clock, 64); string(got) != "B1\nC1\n" || gens != 2 {
				t.Fatalf("read %q in %d new generations; want B1 then C1 in 2", got, gens)
			}
		})
	}
}

// TestFollowForgetsAVanishedQuietFile: a file without a line that the
// follower waited on, then deleted, leaves nothing to wait on: the stream
// is not told to look again every millisecond (a reviewer's find: it spun
// until a new file appeared).
func TestFollowForgetsAVanishedQuietFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	appendTo(t, p, "partial")
	fl, clock := testFollower(p)
	defer fl.close()
	if fl.start(); fl.cur != nil || fl.settleWait() <= 0 {
		t.Fatalf("a fresh file without a line: identified %v, wait %v", fl.cur != nil, fl.settleWait())
	}
	os.Remove(p)
	*clock = clock.Add(settleTime + time.Second)
	if _, err := fl.next(64); !errors.Is(err, errNothing) {
		t.Fatalf("next with no file: %v", err)
	}
	if d := fl.settleWait(); d != 0 {
		t.Fatalf("with the file gone the stream is told to look again in %v", d)
	}
}
