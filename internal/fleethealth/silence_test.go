package fleethealth

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
)

// TestSilenceMatches: a silence mutes by host glob, symptom or both, only
// while it lasts; a resolved line as the symptom it clears; the fleet's
// alerts (host "*") only under the glob "*".
func TestSilenceMatches(t *testing.T) {
	created, ends := t0.Add(-time.Hour), t0.Add(time.Hour)
	alert := func(host, symptom string, ts time.Time) Alert { return Alert{TS: ts, Host: host, Symptom: symptom} }
	for _, c := range []struct {
		name          string
		host, symptom string
		a             Alert
		want          bool
	}{
		{"host glob", "lab-2*", "", alert("lab-21", Silent, t0), true},
		{"host glob, another room", "lab-2*", "", alert("lab-31", Silent, t0), false},
		{"host glob, any symptom", "lab-2?", "", alert("lab-21", FatalOnly, t0), true},
		{"symptom on any host", "", StaleCode, alert("lab-9", StaleCode, t0), true},
		{"symptom, another symptom", "", StaleCode, alert("lab-9", Silent, t0), false},
		{"both", "lab-1", Silent, alert("lab-1", Silent, t0), true},
		{"both, other symptom", "lab-1", Silent, alert("lab-1", FatalOnly, t0), false},
		{"both, other host", "lab-1", Silent, alert("lab-2", Silent, t0), false},
		{"resolved of the symptom", "", Silent, Alert{TS: t0, Host: "lab-1", Symptom: Resolved, Resolves: Silent}, true},
		{"resolved of another symptom", "", Silent, Alert{TS: t0, Host: "lab-1", Symptom: Resolved, Resolves: FatalOnly}, false},
		{"the fleet under *", "*", "", alert(FleetHost, ReceiverFault, t0), true},
		{"the fleet under a room's glob", "lab-*", "", alert(FleetHost, ReceiverFault, t0), false},
		{"the fleet by symptom", "", FleetSilent, alert(FleetHost, FleetSilent, t0), true},
		{"at its creation", "lab-1", "", alert("lab-1", Silent, created), true},
		{"before it was created (a replay)", "lab-1", "", alert("lab-1", Silent, created.Add(-time.Second)), false},
		{"at its end", "lab-1", "", alert("lab-1", Silent, ends), false},
		{"after it ended", "lab-1", "", alert("lab-1", Silent, ends.Add(time.Hour)), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Silence{ID: "s1", Host: c.host, Symptom: c.symptom, Created: created, Ends: ends}
			if got := s.Matches(c.a); got != c.want {
				t.Fatalf("silence %q on %+v: %v, want %v", s.Matcher(), c.a, got, c.want)
			}
		})
	}
}

// TestNewSilenceRefuses: each mistake an admin can make gets one sentence
// saying what to give instead.
func TestNewSilenceRefuses(t *testing.T) {
	for _, c := range []struct {
		name, host, symptom, reason string
		d                           time.Duration
		want                        string
	}{
		{"no matcher", "", "", "patching", time.Hour, "give --host GLOB, --symptom NAME or both"},
		{"no reason", "lab-1", "", " ", time.Hour, "give --reason"},
		{"negative", "lab-1", "", "patching", -time.Hour, "must end in the future"},
		{"too long", "lab-1", "", "patching", 100 * 24 * time.Hour, "quiet_hours"},
		{"typo", "", "slient", "patching", time.Hour, `did you mean "silent"?`},
		{"unknown", "", "on-fire", "patching", time.Hour, "the symptoms are silent, fatal-only"},
		{"resolved", "", Resolved, "patching", time.Hour, "silence that symptom"},
		{"bad glob", "lab-[", "", "patching", time.Hour, "is not a glob"},
		{"control bytes", "lab-1", "", "patching\x1b[2J", time.Hour, "without control characters"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewSilence(c.host, c.symptom, c.reason, "alice", t0, c.d)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v; want it to say %q", err, c.want)
			}
		})
	}
	s, err := NewSilence("LAB-2*", Silent, "room 2 rewired", "alice", t0, 2*time.Hour)
	if err != nil || s.Host != "lab-2*" || len(s.ID) != 8 || !s.Ends.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("a good silence: %+v, %v", s, err)
	}
}

// TestSymptomsListsEveryConstant: every symptom symptoms.go defines can be
// silenced, so a symptom added there is never refused as unknown.
func TestSymptomsListsEveryConstant(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "symptoms.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, d := range file.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST || g.Doc == nil || !strings.Contains(g.Doc.Text(), "The symptoms") {
			continue
		}
		for _, spec := range g.Specs {
			for _, v := range spec.(*ast.ValueSpec).Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok {
					continue
				}
				name, _ := strconv.Unquote(lit.Value)
				found++
				if name != Resolved && !slices.Contains(Symptoms(), name) {
					t.Errorf("symptom %q is not in Symptoms: `cis490 silence add --symptom %s` would refuse it", name, name)
				}
			}
		}
	}
	if found < len(Symptoms()) {
		t.Fatalf("found %d symptom constants in symptoms.go; is the block still commented \"The symptoms\"?", found)
	}
}

// TestSilenceFile: silences survive in silences.json, an expired one is
// kept for `list --all` and pruned after a week, the count is bounded,
// and an id that is not there is named.
func TestSilenceFile(t *testing.T) {
	keep := Files(t.TempDir(), "")
	add := func(now time.Time, s Silence) error {
		return ChangeSilences(keep, now, func(ss []Silence) ([]Silence, error) { return append(ss, s), nil })
	}
	a := Silence{ID: "aaaa0001", Host: "lab-1", Reason: "reimaging", By: "alice", Created: t0, Ends: t0.Add(time.Hour)}
	b := Silence{ID: "bbbb0002", Symptom: Silent, Reason: "power cut", By: "bob", Created: t0, Ends: t0.Add(48 * time.Hour)}
	if err := add(t0, a); err != nil {
		t.Fatal(err)
	}
	if err := add(t0, b); err != nil {
		t.Fatal(err)
	}
	err := ChangeSilences(keep, t0.Add(time.Minute), func(ss []Silence) ([]Silence, error) { return ExpireSilence(ss, b.ID, t0.Add(time.Minute)) })
	if err != nil {
		t.Fatal(err)
	}
	ss, err := ReadSilences(keep)
	if err != nil || len(ss) != 2 || ss[0] != a || !ss[1].Ends.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after an expire: %+v, %v", ss, err)
	}
	if act := Active(ss, t0.Add(2*time.Minute)); len(act) != 1 || act[0].ID != a.ID {
		t.Fatalf("active after the expire: %+v", act)
	}
	err = ChangeSilences(keep, t0, func(ss []Silence) ([]Silence, error) { return ExpireSilence(ss, b.ID, t0.Add(2*time.Minute)) })
	if err == nil || !strings.Contains(err.Error(), "ended already") {
		t.Fatalf("expiring it twice: %v", err)
	}
	err = ChangeSilences(keep, t0, func(ss []Silence) ([]Silence, error) { return ExpireSilence(ss, "nope", t0) })
	if err == nil || !strings.Contains(err.Error(), "no silence nope") {
		t.Fatalf("expiring an unknown id: %v", err)
	}

	later := t0.Add(8 * 24 * time.Hour) // both ended more than a week before
	err = ChangeSilences(keep, later, func(ss []Silence) ([]Silence, error) {
		for i := range maxSilences {
			ss = append(ss, Silence{ID: fmt.Sprintf("%08x", i), Host: "lab-1", Reason: "r", Created: later, Ends: later.Add(time.Hour)})
		}
		return ss, nil
	})
	if err != nil {
		t.Fatalf("%d silences: %v", maxSilences, err)
	}
	if ss, _ := ReadSilences(keep); len(ss) != maxSilences || slices.ContainsFunc(ss, func(s Silence) bool { return s.ID == a.ID }) {
		t.Fatalf("%d silences kept; want %d with the week-old ones pruned", len(ss), maxSilences)
	}
	if err := add(later, Silence{ID: "one-more", Host: "lab-1"}); err == nil || !strings.Contains(err.Error(), "cis490 silence expire") {
		t.Fatalf("silence %d: %v", maxSilences+1, err)
	}
}

// TestSilencedAlertsAreWrittenNotSent: a silenced alert is written to
// alerts.jsonl marked with the silence's id and goes to syslog marked, but
// no notifier hears of it, while an unsilenced one is delivered; the
// silenced symptom's resolved line is silenced too; after the silence
// ends, alerts are sent again.
func TestSilencedAlertsAreWrittenNotSent(t *testing.T) {
	hooks := newHookServer(t)
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.cfg.Notify = []config.Notifier{{Kind: "webhook", URL: hooks.srv.URL + "/hook"}}
	syslog := f.syslogSocket()
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	f.add(healthy("lab-2", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	s, err := NewSilence("lab-1", Silent, "reimaging lab-1", "alice", t0.Add(-time.Minute), 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keep := Files(f.data, "")
	if err := ChangeSilences(keep, t0, func(ss []Silence) ([]Silence, error) { return append(ss, s), nil }); err != nil {
		t.Fatal(err)
	}

	f.run(t0)
	got := f.alerts()
	wantAlerts(t, "both quiet", got, "lab-1 silent", "lab-2 silent")
	if got[0].Silenced != s.ID || got[1].Silenced != "" {
		t.Fatalf("silenced marks %q, %q; want %q on lab-1's only", got[0].Silenced, got[1].Silenced, s.ID)
	}
	if len(hooks.body) != 1 || !strings.Contains(hooks.body[0], `"host":"lab-2"`) {
		t.Fatalf("the webhook got %q; want lab-2's alert alone", hooks.body)
	}
	if m := syslog(); !strings.Contains(m, "lab-1 silent: ") || !strings.Contains(m, "(silenced "+s.ID+")") {
		t.Fatalf("syslog got %q; want lab-1's alert marked silenced", m)
	}
	if m := syslog(); strings.Contains(m, "silenced") {
		t.Fatalf("syslog got %q for lab-2: not silenced", m)
	}

	f.add(healthy("lab-1", t0.Add(time.Minute), t0.Add(5*time.Minute))...)
	f.add(healthy("lab-2", t0.Add(time.Minute), t0.Add(5*time.Minute))...)
	f.run(t0.Add(5 * time.Minute))
	got = f.alerts()[2:]
	wantAlerts(t, "both back", got, "lab-1 resolved silent", "lab-2 resolved silent")
	if got[0].Silenced != s.ID || got[1].Silenced != "" {
		t.Fatalf("resolved marks %q, %q; want %q on lab-1's only", got[0].Silenced, got[1].Silenced, s.ID)
	}
	if len(hooks.body) != 2 || !strings.Contains(hooks.body[1], `"host":"lab-2"`) || strings.Contains(strings.Join(hooks.body, ""), `"host":"lab-1"`) {
		t.Fatalf("the webhook got %q; want nothing of lab-1", hooks.body)
	}

	// After the silence ends, lab-1 pages again.
	end := t0.Add(3 * time.Hour)
	f.run(end)
	got = f.alerts()[4:]
	wantAlerts(t, "quiet again after the silence", got, "lab-1 silent", "lab-2 silent")
	if got[0].Silenced != "" || len(hooks.body) != 4 {
		t.Fatalf("after the silence: mark %q, %d posts; want none and 4", got[0].Silenced, len(hooks.body))
	}
}

// TestAlertSilencedRoundTrips: the mark survives alerts.jsonl and is left
// out of lines no silence matched.
func TestAlertSilencedRoundTrips(t *testing.T) {
	for _, a := range []Alert{
		{TS: t0, Host: "lab-1", Symptom: Silent, Detail: "quiet", Bucket: Bucket(t0), Silenced: "0badf00d"},
		{TS: t0, Host: "lab-1", Symptom: Silent, Detail: "quiet", Bucket: Bucket(t0)},
	} {
		b, err := a.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "silenced") != (a.Silenced != "") {
			t.Errorf("line %s: the silenced key must be there exactly when it is silenced", b)
		}
		var back Alert
		if err := json.Unmarshal(b, &back); err != nil || back != a {
			t.Errorf("round trip of %s: %+v, %v", b, back, err)
		}
	}
}

// TestViewShowsActiveSilences: the fleet view carries the silences active
// now (who set them and why), not the ended ones.
func TestViewShowsActiveSilences(t *testing.T) {
	f := newFixture(t)
	f.add(healthy("lab-1", t0.Add(-time.Hour), t0)...)
	live := Silence{ID: "11111111", Host: "lab-*", Reason: "room move", By: "alice", Created: t0.Add(-time.Hour), Ends: t0.Add(time.Hour)}
	over := Silence{ID: "22222222", Symptom: Silent, Reason: "old", By: "bob", Created: t0.Add(-3 * time.Hour), Ends: t0.Add(-time.Hour)}
	err := ChangeSilences(Files(f.data, ""), t0, func(ss []Silence) ([]Silence, error) { return append(ss, live, over), nil })
	if err != nil {
		t.Fatal(err)
	}
	v, err := BuildView(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Silences) != 1 || v.Silences[0] != live {
		t.Fatalf("view silences %+v; want only %s", v.Silences, live.ID)
	}
	b, _ := json.Marshal(v)
	if !strings.Contains(string(b), `"silences":[{"id":"11111111","host":"lab-*","reason":"room move","by":"alice"`) {
		t.Fatalf("/v1/fleet's JSON: %s", b)
	}
}

// TestChangeSilencesWaitsForARun: a silence added while a detector run
// holds the lock is written after the run lets go, not beside it.
func TestChangeSilencesWaitsForARun(t *testing.T) {
	keep := Files(t.TempDir(), "")
	unlock, err := keep.Lock() // a run in progress
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- ChangeSilences(keep, t0, func(ss []Silence) ([]Silence, error) {
			return append(ss, Silence{ID: "cafe0001", Host: "lab-1", Created: t0, Ends: t0.Add(time.Hour)}), nil
		})
	}()
	select {
	case err := <-done:
		t.Fatalf("the change did not wait for the run's lock: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ss, err := ReadSilences(keep); err != nil || len(ss) != 1 {
		t.Fatalf("after the run: %+v, %v", ss, err)
	}
}

// TestUnreadableSilencesSilenceNothing: a torn silences.json must not
// mute the fleet: the run still alerts and tells the notifiers, and the
// fleet view says why it shows no silence.
func TestUnreadableSilencesSilenceNothing(t *testing.T) {
	hooks := newHookServer(t)
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.cfg.Notify = []config.Notifier{{Kind: "webhook", URL: hooks.srv.URL + "/hook"}}
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	os.MkdirAll(datadir.Dir(f.data).FleetHealth(), 0o750)
	if err := Files(f.data, "").SaveSilences([]byte(`[{"id":"torn`)); err != nil {
		t.Fatal(err)
	}
	f.run(t0)
	if got := f.alerts(); len(got) != 1 || got[0].Silenced != "" || len(hooks.body) != 1 {
		t.Fatalf("with a torn silences file: alerts %+v, %d posts; want lab-1's, sent", got, len(hooks.body))
	}
	v, err := BuildView(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Now: t0})
	if err != nil || !strings.Contains(v.Partial, "read the silences: not a list of silences") || len(v.Silences) != 0 {
		t.Fatalf("view with a torn silences file: %v, partial %q", err, v.Partial)
	}
}

// TestDryRunShowsSilenced: `fleet-health --dry-run` says which alerts a
// silence would keep from the notifiers.
func TestDryRunShowsSilenced(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	f.add(healthy("lab-2", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	s := Silence{ID: "d2d2d2d2", Host: "lab-1", Reason: "r", Created: t0.Add(-time.Minute), Ends: t0.Add(time.Hour)}
	if err := ChangeSilences(Files(f.data, ""), t0, func(ss []Silence) ([]Silence, error) { return append(ss, s), nil }); err != nil {
		t.Fatal(err)
	}
	res, err := Run(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Now: t0, Replay: true, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, res, 1); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !regexp.MustCompile(`(?m)^lab-1\s+silent\s+silenced d2d2d2d2\s+quiet`).MatchString(out) || !regexp.MustCompile(`(?m)^lab-2\s+silent\s+alert\s+quiet`).MatchString(out) {
		t.Fatalf("dry-run table:\n%s", out)
	}
	if len(f.alerts()) != 0 {
		t.Fatal("a dry run wrote alerts")
	}
}

// TestKeptDropsLongEnded: what `silence list --all` shows is what the file
// keeps, ended silences for a week, whether or not anyone changed the file
// since they aged out.
func TestKeptDropsLongEnded(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ss := []Silence{{ID: "old", Ends: now.Add(-silencePruneAfter - time.Hour)}, {ID: "recent", Ends: now.Add(-time.Hour)}, {ID: "on", Ends: now.Add(time.Hour)}}
	var ids []string
	for _, s := range Kept(ss, now) {
		ids = append(ids, s.ID)
	}
	if fmt.Sprint(ids) != "[recent on]" {
		t.Fatalf("kept %v; want [recent on]", ids)
	}
}
