// Package statetest is the promises of the receiver's small state (host
// health, releases, dashboard sessions, removed hosts) as one suite per
// interface, run against every implementation: the files under data_dir
// and postgres+s3. What an admin or a host sees must not depend on where
// the state is kept.
package statetest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/dashboard"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/release"
)

// Opener opens two views of one fresh, empty store: what one writes the
// other must read (the same folder twice; two receivers' backends on one
// database and bucket). The test closes them through t.Cleanup.
type Opener[S any] func(t *testing.T) (a, b S)

// State is every store of the small state, as one implementation keeps it.
type State struct {
	HostHealth hosthealth.Store
	Releases   release.Store
	Sessions   dashboard.Sessions
	Removals   fleethealth.Removals
}

// Run holds every store of an implementation to its promises; open opens
// two views of one fresh, empty state.
func Run(t *testing.T, open Opener[State]) {
	t.Run("host health", func(t *testing.T) { HostHealth(t, pick(open, func(s State) hosthealth.Store { return s.HostHealth })) })
	t.Run("releases", func(t *testing.T) { Releases(t, pick(open, func(s State) release.Store { return s.Releases })) })
	t.Run("sessions", func(t *testing.T) { Sessions(t, pick(open, func(s State) dashboard.Sessions { return s.Sessions })) })
	t.Run("removals", func(t *testing.T) { Removals(t, pick(open, func(s State) fleethealth.Removals { return s.Removals })) })
}

func pick[S any](open Opener[State], field func(State) S) Opener[S] {
	return func(t *testing.T) (S, S) {
		a, b := open(t)
		return field(a), field(b)
	}
}

// at is a time the stores keep exactly (whole microseconds: any
// filesystem's mtime).
var at = time.Date(2026, 12, 7, 8, 0, 0, 123456000, time.UTC)

// HostHealth holds a hosthealth.Store to its promises.
func HostHealth(t *testing.T, open Opener[hosthealth.Store]) {
	t.Run("empty", func(t *testing.T) {
		a, _ := open(t)
		if ents, err := a.List(); err != nil || len(ents) != 0 {
			t.Errorf("List = %v, %v; want none", ents, err)
		}
		if snaps, err := a.ReadAll(); err != nil || snaps == nil || len(snaps) != 0 {
			t.Errorf("ReadAll = %#v, %v; want an empty list", snaps, err)
		}
		if _, err := a.Read("lab-1"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Read of a host never written: %v; want fs.ErrNotExist", err)
		}
	})
	t.Run("written on one, read on the other", func(t *testing.T) {
		a, b := open(t)
		big := []byte(`{"x":"` + strings.Repeat("a", hosthealth.MaxSize-8) + `"}`)
		for _, w := range []struct {
			host string
			body []byte
			at   time.Time
		}{
			{"lab-2", []byte(`{"ok":true}`), at},
			{"lab-1", []byte(`{"ok":false}`), at.Add(time.Second)},
			{"lab-1.example.org", big, at.Add(2 * time.Second)},
		} {
			if err := a.Write(w.host, w.body, w.at); err != nil {
				t.Fatal(err)
			}
			snap, err := b.Read(w.host)
			if err != nil || snap.Host != w.host || !bytes.Equal(snap.Snapshot, w.body) || !snap.ReceivedAt.Equal(w.at) {
				t.Fatalf("Read(%s) after Write: %v; want %d bytes received at %s", w.host, err, len(w.body), w.at)
			}
		}
		ents, err := b.List()
		want := []hosthealth.Entry{{Host: "lab-1", ReceivedAt: at.Add(time.Second)},
			{Host: "lab-1.example.org", ReceivedAt: at.Add(2 * time.Second)}, {Host: "lab-2", ReceivedAt: at}}
		if err != nil || !slices.EqualFunc(ents, want, func(x, y hosthealth.Entry) bool { return x.Host == y.Host && x.ReceivedAt.Equal(y.ReceivedAt) }) {
			t.Errorf("List = %v, %v; want %v", ents, err, want)
		}
		snaps, err := b.ReadAll()
		if err != nil || len(snaps) != 3 || snaps[0].Host != "lab-1" || snaps[2].Host != "lab-2" || !bytes.Equal(snaps[1].Snapshot, big) {
			t.Errorf("ReadAll = %d snapshots, %v; want lab-1, lab-1.example.org, lab-2 in that order", len(snaps), err)
		}
		// Replaced whole, stamped anew.
		if err := a.Write("lab-2", []byte(`{}`), at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if snap, err := b.Read("lab-2"); err != nil || string(snap.Snapshot) != `{}` || !snap.ReceivedAt.Equal(at.Add(time.Hour)) {
			t.Errorf("Read after a replace: %+v, %v", snap, err)
		}
	})
	t.Run("names that are not hosts'", func(t *testing.T) {
		a, _ := open(t)
		for _, name := range []string{"", "Not A Host", "../outside", "lab/1", "lab\x00", strings.Repeat("a", 254)} {
			if err := a.Write(name, []byte(`{}`), at); err == nil {
				t.Errorf("Write(%q) stored a snapshot under a name that is not a host's", name)
			}
			if _, err := a.Read(name); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Read(%q): %v; want fs.ErrNotExist", name, err)
			}
		}
		if ents, err := a.List(); err != nil || len(ents) != 0 {
			t.Errorf("List = %v, %v; want none", ents, err)
		}
	})
	t.Run("a reader sees one whole snapshot", func(t *testing.T) {
		a, b := open(t)
		bodies := make([][]byte, 4)
		for i := range bodies {
			bodies[i] = bytes.Repeat(fmt.Appendf(nil, "%d", i), 64<<10+i*1000)
		}
		if err := a.Write("h", bodies[0], at); err != nil {
			t.Fatal(err)
		}
		stop := meanwhile(t, 3, func(w, i int) error { return a.Write("h", bodies[(w+i)%len(bodies)], at) })
		reads := 0
		for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); reads++ {
			snap, err := b.Read("h")
			if err != nil {
				t.Error(err)
				break
			}
			if !slices.ContainsFunc(bodies, func(want []byte) bool { return bytes.Equal(snap.Snapshot, want) }) {
				t.Errorf("read %d bytes that are no body written (torn or mixed)", len(snap.Snapshot))
				break
			}
		}
		stop()
		if reads < 10 {
			t.Errorf("only %d reads", reads)
		}
	})
}

// meanwhile calls write(w, i) in n goroutines w, with i counting up in
// each, until stop is called; stop waits for them. An error fails t and
// ends its goroutine.
func meanwhile(t *testing.T, n int, write func(w, i int) error) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if err := write(w, i); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// Sessions holds a dashboard.Sessions to its promises.
func Sessions(t *testing.T, open Opener[dashboard.Sessions]) {
	sess := func(c, admin string, exp time.Time) dashboard.StoredSession {
		return dashboard.StoredSession{CookieSHA256: strings.Repeat(c, 64), Admin: admin, TokenSHA256: strings.Repeat("f", 64), Expires: exp}
	}
	s1, s2 := sess("1", "alice", at), sess("2", "bob", at.Add(time.Hour))
	s2b := sess("2", "bob", at.Add(2*time.Hour))
	for _, tc := range []struct {
		name  string
		saves [][]dashboard.StoredSession
		want  []dashboard.StoredSession
	}{
		{"none stored", nil, nil},
		{"saved on one, loaded on the other", [][]dashboard.StoredSession{{s1, s2}}, []dashboard.StoredSession{s1, s2}},
		{"replaced whole", [][]dashboard.StoredSession{{s1, s2}, {s2b}}, []dashboard.StoredSession{s2b}},
		{"all logged out", [][]dashboard.StoredSession{{s1, s2}, {}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			for _, s := range tc.saves {
				if err := a.Save(s); err != nil {
					t.Fatal(err)
				}
			}
			got, err := b.Load()
			slices.SortFunc(got, func(x, y dashboard.StoredSession) int { return strings.Compare(x.CookieSHA256, y.CookieSHA256) })
			same := func(x, y dashboard.StoredSession) bool {
				return x.CookieSHA256 == y.CookieSHA256 && x.Admin == y.Admin && x.TokenSHA256 == y.TokenSHA256 && x.Expires.Equal(y.Expires)
			}
			if err != nil || !slices.EqualFunc(got, tc.want, same) {
				t.Errorf("Load = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// Removals holds a fleethealth.Removals to its promises.
func Removals(t *testing.T, open Opener[fleethealth.Removals]) {
	type step struct {
		mark  bool // else clear
		host  string
		at    time.Time
		after map[string]time.Time
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"none removed", nil},
		{"marked on one, read on the other", []step{
			{true, "lab-1", at, map[string]time.Time{"lab-1": at}},
			{true, "lab-2", at.Add(time.Minute), map[string]time.Time{"lab-1": at, "lab-2": at.Add(time.Minute)}},
		}},
		{"marked again", []step{
			{true, "lab-1", at, map[string]time.Time{"lab-1": at}},
			{true, "lab-1", at.Add(time.Hour), map[string]time.Time{"lab-1": at.Add(time.Hour)}},
		}},
		{"cleared on enrollment", []step{
			{true, "lab-1", at, map[string]time.Time{"lab-1": at}},
			{true, "lab-2", at, map[string]time.Time{"lab-1": at, "lab-2": at}},
			{false, "lab-1", time.Time{}, map[string]time.Time{"lab-2": at}},
			{false, "lab-3", time.Time{}, map[string]time.Time{"lab-2": at}},
		}},
		{"marked at no time is cleared", []step{
			{true, "lab-1", at, map[string]time.Time{"lab-1": at}},
			{true, "lab-1", time.Time{}, map[string]time.Time{}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			if m, err := b.Removed(); err != nil || m == nil || len(m) != 0 {
				t.Fatalf("Removed of a fresh store = %v, %v; want an empty map", m, err)
			}
			for i, s := range tc.steps {
				var err error
				if s.mark {
					err = a.Mark(s.host, s.at)
				} else {
					err = a.Clear(s.host)
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				m, err := b.Removed()
				if err != nil || !maps.EqualFunc(m, s.after, time.Time.Equal) {
					t.Fatalf("step %d: Removed = %v, %v; want %v", i, m, err, s.after)
				}
			}
		})
	}
}
