package fleethealth

import (
	"fmt"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/human"
)

// readDoctors brings each known host's doctor verdict up to date from the
// snapshots the receiver stored, parsing only those that changed since the
// last run. Snapshots stored after now (a replay) are not there yet.
func readDoctors(snaps hosthealth.Store, hosts map[string]*Host, now time.Time) {
	ents, err := snaps.List()
	if err != nil {
		return
	}
	for _, e := range ents {
		h := hosts[e.Host]
		if e.ReceivedAt.After(now) || h == nil || h.Doctor != nil && h.Doctor.At.Equal(e.ReceivedAt) {
			continue
		}
		if d := doctorSeen(snaps, e); d != nil {
			h.Doctor = d
		}
	}
}

// doctorSeen reads a snapshot's verdict, its failing checks by name and
// its summary. nil when the file cannot be read now (it is tried again
// next run).
func doctorSeen(snaps hosthealth.Store, e hosthealth.Entry) *DoctorSeen {
	snap, err := snaps.Read(e.Host)
	if err != nil {
		return nil
	}
	d := &DoctorSeen{At: e.ReceivedAt}
	rep, err := hosthealth.Parse(snap.Snapshot)
	if err != nil { // JSON, but not a doctor report: said, not flagged
		d.OK, d.Summary = true, "a snapshot the detector cannot read"
		return d
	}
	for _, c := range rep.Failing() {
		if len(d.Failing) < 16 {
			d.Failing = append(d.Failing, human.Visible(human.Clip(c.Name, maxDoctorText)))
		}
	}
	// The summary is the host's own text, shown by status and the dashboard.
	d.OK, d.Summary = rep.OK, human.Visible(human.Clip(rep.Summary, maxDoctorText))
	return d
}

// maxDoctorText bounds a check's name or a summary a host reported.
const maxDoctorText = 200

// doctorFindings judges a host's doctor reports: failing (its latest has a
// fail) or missing (it has been up long enough that its timer must have
// fired, and no report came). Missing is judged only for hosts that have
// reported before, so hosts still running a shipper without the doctor
// (a staged rollout) are not flagged.
func doctorFindings(name string, h *Host, now time.Time) []Finding {
	var out []Finding
	if d := h.Doctor; d != nil && !d.OK {
		failing := strings.Join(d.Failing, ", ")
		if failing == "" {
			failing = d.Summary
		}
		out = append(out, Finding{name, DoctorFailing, fmt.Sprintf("its doctor report of %s fails: %s; run `cis490 doctor` on it for the fixes",
			d.At.Format(time.RFC3339), failing)})
	}
	if h.LastReport.IsZero() || h.Off != "" {
		return out
	}
	fix := "its cis490-doctor-check.timer is not firing or its report does not arrive: `systemctl status cis490-doctor-check.timer` and `cis490 ship-health-check` on it"
	switch {
	case h.BootAt.After(h.LastReport) && now.Sub(h.BootAt) > doctorAfterBoot:
		// The timer fires 10 minutes after boot.
		out = append(out, Finding{name, DoctorMissing, fmt.Sprintf("booted %s ago (at %s) and sent no doctor report since; %s",
			roundDur(now.Sub(h.BootAt)), h.BootAt.Format(time.RFC3339), fix)})
	case h.Days >= 2 && now.Sub(h.LastReport) > doctorDaily:
		// Up on two days since its last report: a daily timer (Persistent,
		// so it catches up after sleep) must have fired.
		out = append(out, Finding{name, DoctorMissing, fmt.Sprintf("seen on %d days since its last doctor report (%s); %s",
			h.Days, h.LastReport.Format(time.RFC3339), fix)})
	}
	return out
}

// The doctor timer fires 10 minutes after boot (with up to 30 minutes of
// random delay), then daily (the same).
const (
	doctorAfterBoot = 75 * time.Minute
	doctorDaily     = 26 * time.Hour
)
