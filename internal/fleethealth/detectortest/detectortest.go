// Package detectortest is the promises of fleethealth.Store as one suite,
// run against every implementation (the files in data_dir, the shared
// database): the detector must not behave differently for where it keeps
// its state. Only tests import it.
package detectortest

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/fleethealth"
)

// Run runs the suite; open returns a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) fleethealth.Store) {
	t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	alert := func(m int, host string) fleethealth.Alert {
		at := t0.Add(time.Duration(m) * time.Minute)
		return fleethealth.Alert{TS: at, Host: host, Symptom: fleethealth.Silent, Detail: "quiet", Bucket: fleethealth.Bucket(at)}
	}
	hosts := func(as []fleethealth.Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Host)
		}
		return out
	}
	locked := func(t *testing.T, s fleethealth.Store) {
		t.Helper()
		unlock, err := s.Lock()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(unlock)
	}

	t.Run("empty", func(t *testing.T) {
		s := open(t)
		for name, load := range map[string]func() ([]byte, error){"state": s.LoadState, "silences": s.LoadSilences} {
			if b, err := load(); b != nil || err != nil {
				t.Errorf("%s of an empty store: %q, %v; want nil, nil", name, b, err)
			}
		}
		if as, err := s.ReadAlerts(func(fleethealth.Alert) bool { return true }, 10); len(as) != 0 || err != nil {
			t.Errorf("ReadAlerts of an empty store: %v, %v", as, err)
		}
		if err := s.AppendAlerts(nil); err != nil {
			t.Errorf("appending no alerts: %v", err)
		}
	})

	t.Run("blobs", func(t *testing.T) {
		s := open(t)
		locked(t, s)
		steps := []struct {
			name string
			save func([]byte) error
			load func() ([]byte, error)
			data []byte
		}{
			{"state", s.SaveState, s.LoadState, []byte("state one")},
			{"state replaced", s.SaveState, s.LoadState, []byte("two")},
			{"silences", s.SaveSilences, s.LoadSilences, []byte(`[]`)},
			{"silences replaced", s.SaveSilences, s.LoadSilences, []byte(`[{"id":"x"}]`)},
		}
		for _, st := range steps {
			if err := st.save(st.data); err != nil {
				t.Fatalf("%s: save: %v", st.name, err)
			}
			if got, err := st.load(); err != nil || !bytes.Equal(got, st.data) {
				t.Fatalf("%s: load %q, %v; want %q", st.name, got, err, st.data)
			}
		}
		where, err := s.SetAside()
		if err != nil || where == "" {
			t.Fatalf("SetAside: %q, %v", where, err)
		}
		if b, err := s.LoadState(); b != nil || err != nil {
			t.Fatalf("the state after SetAside: %q, %v; want none", b, err)
		}
		if b, _ := s.LoadSilences(); string(b) != `[{"id":"x"}]` {
			t.Fatalf("SetAside took the silences too: %q", b)
		}
	})

	t.Run("alerts", func(t *testing.T) {
		s := open(t)
		locked(t, s)
		var cp fleethealth.AlertCheckpoint
		since := t0.Add(time.Minute)
		read := func() []string {
			t.Helper()
			var got []fleethealth.Alert
			var err error
			cp, err = s.AlertsSince(context.Background(), cp, since, func(a fleethealth.Alert) error {
				got = append(got, a)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return hosts(got)
		}
		steps := []struct {
			name   string
			append []fleethealth.Alert
			since  []string // what AlertsSince hands on from the last checkpoint
			newest []string // ReadAlerts, limit 3
			lab    []string // ReadAlerts of the lab-* hosts only
		}{
			{"none yet", nil, nil, nil, nil},
			{"before since, and after", []fleethealth.Alert{alert(0, "early"), alert(1, "lab-a"), alert(2, "b")},
				[]string{"lab-a", "b"}, []string{"b", "lab-a", "early"}, []string{"lab-a"}},
			{"another run's", []fleethealth.Alert{alert(5, "lab-c")},
				[]string{"lab-c"}, []string{"lab-c", "b", "lab-a"}, []string{"lab-c", "lab-a"}},
			{"nothing new", nil, nil, []string{"lab-c", "b", "lab-a"}, []string{"lab-c", "lab-a"}},
		}
		for _, st := range steps {
			if err := s.AppendAlerts(st.append); err != nil {
				t.Fatalf("%s: append: %v", st.name, err)
			}
			if got := read(); !slices.Equal(got, st.since) {
				t.Errorf("%s: AlertsSince handed on %v, want %v (checkpoint %+v)", st.name, got, st.since, cp)
			}
			all, err := s.ReadAlerts(func(fleethealth.Alert) bool { return true }, 3)
			if err != nil || !slices.Equal(hosts(all), st.newest) {
				t.Errorf("%s: ReadAlerts: %v, %v; want %v", st.name, hosts(all), err, st.newest)
			}
			lab, err := s.ReadAlerts(func(a fleethealth.Alert) bool { return strings.HasPrefix(a.Host, "lab") }, 10)
			if err != nil || !slices.Equal(hosts(lab), st.lab) {
				t.Errorf("%s: ReadAlerts of lab hosts: %v, %v; want %v", st.name, hosts(lab), err, st.lab)
			}
		}
		// Alerts read back whole.
		got, _ := s.ReadAlerts(func(a fleethealth.Alert) bool { return a.Host == "lab-c" }, 1)
		if want := alert(5, "lab-c"); len(got) != 1 || !got[0].TS.Equal(want.TS) || got[0].Detail != want.Detail || got[0].Bucket != want.Bucket {
			t.Errorf("read back %+v, want %+v", got, want)
		}
	})
}
