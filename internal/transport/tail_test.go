package transport

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/receivertest"
	"github.com/cis490/cis490/internal/wire"
)

// TestTailFollows: a follow waits for a stream that does not exist yet,
// prints it as it grows, survives a receiver restart, and ends quietly
// when ctx ends.
func TestTailFollows(t *testing.T) {
	r := receivertest.Start(t, nil)
	host := client(t, r, r.IssueHost("lab-1", time.Now(), time.Hour), "")
	admin := client(t, r, r.IssueAdmin("ops"), "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	got := make(chan string, 100)
	waiting := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- admin.Tail(ctx, "lab-1", "syslog", TailOptions{Follow: true, Every: 20 * time.Millisecond,
			OnWaiting: func() { waiting <- struct{}{} }},
			func(b []byte) error {
				if len(b) > 0 {
					got <- string(b)
				}
				return nil
			})
	}()
	var seen strings.Builder
	expect := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for seen.String() != want {
			select {
			case s := <-got:
				seen.WriteString(s)
			case err := <-done:
				t.Fatalf("the follow ended (%v) having printed %q; want %q", err, seen.String(), want)
			case <-deadline:
				t.Fatalf("the follow printed %q; want %q", seen.String(), want)
			}
		}
	}
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the follow did not say it waits for a stream that does not exist yet")
	}
	off := int64(0)
	put := func(s string) {
		t.Helper()
		n, err := host.PutLogs(context.Background(), "syslog", off, Gen{}, []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		off = n
	}
	put("first\n")
	expect("first\n")
	put("second\n")
	expect("first\nsecond\n")
	r.Restart()
	put("after a restart\n")
	expect("first\nsecond\nafter a restart\n")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("an interrupted follow = %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the follow did not end with ctx")
	}
}

// TestTailReads: without Follow, Tail reads to the end and returns; a
// stream that is not there is ErrNoStream; an offset past the end is said.
func TestTailReads(t *testing.T) {
	r := receivertest.Start(t, nil)
	host := client(t, r, r.IssueHost("lab-1", time.Now(), time.Hour), "")
	admin := client(t, r, r.IssueAdmin("ops"), "")
	ctx := context.Background()
	if _, err := host.PutLogs(ctx, "syslog", 0, Gen{}, []byte("one\ntwo\n")); err != nil {
		t.Fatal(err)
	}
	read := func(opt TailOptions) (string, error) {
		var b strings.Builder
		err := admin.Tail(ctx, "lab-1", "syslog", opt, func(p []byte) error { b.Write(p); return nil })
		return b.String(), err
	}
	if s, err := read(TailOptions{}); err != nil || s != "one\ntwo\n" {
		t.Fatalf("the whole stream = %q, %v", s, err)
	}
	if s, err := read(TailOptions{From: url.Values{wire.QueryOffset: {"4"}}}); err != nil || s != "two\n" {
		t.Fatalf("from offset 4 = %q, %v", s, err)
	}
	var past [2]int64
	if _, err := read(TailOptions{From: url.Values{wire.QueryOffset: {"99"}},
		OnPastEnd: func(at, length int64) { past = [2]int64{at, length} }}); err != nil || past != [2]int64{99, 8} {
		t.Fatalf("past the end = %v, told %v; want told 99, 8", err, past)
	}
	err := admin.Tail(ctx, "lab-1", "nosuch", TailOptions{}, func([]byte) error { return nil })
	var te *Error
	if !errors.Is(err, ErrNoStream) || !errors.As(err, &te) {
		t.Fatalf("a stream that is not there = %v; want ErrNoStream wrapping the receiver's *Error", err)
	}
}
