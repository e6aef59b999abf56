package fleethealth

import (
	"strings"
	"time"

	"github.com/cis490/cis490/internal/human"
)

// The states a host can be in, as /v1/fleet's "state" carries them
// (scripts read these words: they do not change).
const (
	StateSick   = "sick"
	StateSilent = "silent"
	StateOff    = "off"
	StateOK     = "ok"
)

// HostState decides a host's state and the one line that says why, from
// its row's figures and its symptoms (most severe first). It is the one
// place that does: the demo, `cis490 status`, the dashboard and /v1/fleet
// all show what it returns, so no two of them can disagree about a host.
// Durations in the why are written as human.Ago writes "last seen", so a
// "quiet for 1m" never sits beside "last seen 2m ago".
func HostState(r Row, now time.Time) (state, why string) {
	if len(r.Symptoms) > 0 && !notSick(r.Symptoms[0].Symptom) {
		s := r.Symptoms[0]
		state = StateSick
		if s.Symptom == Silent {
			state = StateSilent
		}
		why = symptomWhy(r, s, now)
		if state == StateSick { // "silent" already names its symptom
			why = s.Symptom + ": " + why
		}
		why += progress(s)
		if more := len(r.Symptoms) - 1; more > 0 {
			why += "; " + human.Count(more, "more symptom")
		}
		return state, why
	}
	// What is left does not make a host sick: a clean stop or sleep, an
	// unstamped build or logs it lost today (worth knowing, and alerted,
	// but nothing about the host is failing now).
	switch {
	case r.Off == "shutdown":
		state, why = StateOff, "shut down cleanly "+human.Ago(now, r.LastSeen)
	case r.Off != "":
		state, why = StateOff, "said it was going to "+r.Off+" "+human.Ago(now, r.LastSeen)
	default:
		state, why = StateOK, "nothing wrong"
	}
	if len(r.Symptoms) > 0 {
		why += ", but " + r.Symptoms[0].Symptom + ": " + symptomWhy(r, r.Symptoms[0], now)
	}
	return state, why
}

// symptomWhy is a symptom in a few words; its Detail has the whole story
// and the fix.
func symptomWhy(r Row, s Symptom, now time.Time) string {
	switch s.Symptom {
	case Silent:
		return "quiet for " + human.Duration(now.Sub(r.LastSeen))
	case FatalOnly:
		// Its detail starts with what failed ("every log PUT failed:
		// 3×4xx") and goes on to the likely cause and fix.
		what, _, _ := strings.Cut(s.Detail, ";")
		return what
	case StaleCode:
		return "runs " + human.Commit(r.Commit) + ", a release the version gate refuses"
	case DuplicateIdentity:
		return "more than one installation ships under its name"
	case CertExpiring:
		return "its certificate expires " + until(now, r.CertExpires) + " and it has not renewed it"
	case CertExpired:
		return "its certificate expired " + human.Ago(now, r.CertExpires) + " and the receiver refuses its logs"
	case DoctorFailing:
		if r.Doctor != nil && r.Doctor.Summary != "" {
			return "its doctor says " + r.Doctor.Summary
		}
		return "its doctor reports a failing check"
	case DoctorMissing:
		return "no doctor report lately"
	case Unstamped:
		return "its build carries no commit, so nobody can tell which code it runs"
	case LostLogs:
		return "its shipper lost logs for good in the last day"
	case OverQuota:
		return "over its quota: its logs wait on it"
	}
	return s.Symptom
}

// notSick are the symptoms that leave a host's state as it is.
func notSick(symptom string) bool { return symptom == Unstamped || symptom == LostLogs }

// progress says where a symptom stands in the detector's hands.
func progress(s Symptom) string {
	switch {
	case s.Held:
		return " (expected: its quiet hours or a fleet-wide symptom)"
	case !s.Firing:
		return " (confirming)"
	}
	return ""
}

func until(now, t time.Time) string {
	if d := t.Sub(now); d > 0 {
		return "in " + human.Duration(d)
	}
	return "now"
}
