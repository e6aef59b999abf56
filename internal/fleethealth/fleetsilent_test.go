package fleethealth

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// room is a partition: of n hosts healthy since 3 h before t0, the first
// quiet go quiet at t0 and come back at back(i) (never, when zero); the
// rest ship throughout, until end.
func room(f *fixture, n, quiet int, back func(i int) time.Time, end time.Time) {
	var lines []index.Line
	for i := range n {
		h := fmt.Sprintf("lab-%02d", i)
		if i >= quiet {
			lines = append(lines, healthy(h, t0.Add(-3*time.Hour), end)...)
			continue
		}
		lines = append(lines, healthy(h, t0.Add(-3*time.Hour), t0)...)
		if b := back(i); !b.IsZero() {
			lines = append(lines, healthy(h, b, end)...)
		}
	}
	f.addInOrder(lines...)
}

// at is a room's back for hosts that all come back at b.
func at(b time.Time) func(int) time.Time { return func(int) time.Time { return b } }

// TestPartitionLongerThanTheWindow: a room's switch dies and 12 of 20
// hosts are quiet for 3.5 h, longer than the 2 h fleet-silent measures
// activity over. It is one fleet-silent an hour for as long as it lasts,
// naming the network they share, then one resolved, and no host's own
// silent at all.
func TestPartitionLongerThanTheWindow(t *testing.T) {
	f := newFixture(t)
	back, end := t0.Add(210*time.Minute), t0.Add(5*time.Hour)
	room(f, 20, 12, at(back), end)
	all := runAll(f, t0, end, 5*time.Minute)
	want := []string{"11-26T10:35 * fleet-silent", "11-26T11:00 * fleet-silent", "11-26T12:00 * fleet-silent",
		"11-26T13:00 * fleet-silent", "11-26T13:35 * resolved fleet-silent"}
	if got := summary(all); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	d := all[3].Detail
	for _, s := range []string{"12 of 20 hosts", "lab-00, lab-01, lab-02 and 9 more", "12 still silent after 3h01m",
		"8 other hosts still reach the receiver", "the network or power these hosts share"} {
		if !strings.Contains(d, s) {
			t.Errorf("detail at 13:00 lacks %q: %s", s, d)
		}
	}
}

// TestPartitionPartlyBack: enough of the group comes back that the
// threshold no longer holds for it: one resolved, and only then are the
// hosts still quiet each their own silent.
func TestPartitionPartlyBack(t *testing.T) {
	f := newFixture(t)
	end := t0.Add(4 * time.Hour)
	room(f, 20, 12, func(i int) time.Time {
		if i < 9 {
			return time.Time{} // lab-00..08 never come back
		}
		return t0.Add(3 * time.Hour) // lab-09..11: quiet 3 h, then back
	}, end)
	all := runAll(f, t0, end, 5*time.Minute)
	var got []string
	counts := map[string]int{} // the hosts' own silents, by time
	for i, a := range all {
		if a.Host == FleetHost {
			got = append(got, summary(all)[i])
		} else {
			counts[a.TS.Format("15:04")+" "+a.Symptom]++
		}
	}
	want := []string{"11-26T10:35 * fleet-silent", "11-26T11:00 * fleet-silent", "11-26T12:00 * fleet-silent",
		"11-26T13:05 * resolved fleet-silent"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("fleet-level alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if fmt.Sprint(counts) != "map[13:05 silent:9 14:00 silent:9]" {
		t.Errorf("per-host silents by time %v; want the 9 hosts still quiet each silent from the run the group recovered on, then hourly", counts)
	}
}

// TestPartitionThenReceiverDown: the rest of the fleet falling silent
// during a partition (the receiver dies) joins the silence: still one
// alert, naming the receiver now, and no host's own silent.
func TestPartitionThenReceiverDown(t *testing.T) {
	f := newFixture(t)
	room(f, 20, 12, at(time.Time{}), t0.Add(time.Hour))
	all := runAll(f, t0, t0.Add(3*time.Hour), 5*time.Minute)
	for _, a := range all {
		if a.Host != FleetHost {
			t.Fatalf("a host's own alert: %s", strings.Join(summary(all), ", "))
		}
	}
	last := all[len(all)-1]
	if last.Symptom != FleetSilent || !strings.Contains(last.Detail, "20 of 20 hosts") || !strings.Contains(last.Detail, "cis490-receiver is running") {
		t.Fatalf("last alert %s: %s; want fleet-silent for all 20, naming the receiver", last.Symptom, last.Detail)
	}
}
