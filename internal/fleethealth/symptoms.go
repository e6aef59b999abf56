package fleethealth

import (
	"fmt"
	"math"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"
)

// The symptoms. Fleet-level ones carry host "*".
const (
	Silent            = "silent"
	FatalOnly         = "fatal-only"
	Unstamped         = "unstamped"
	StaleCode         = "stale-code"
	DuplicateIdentity = "duplicate-identity"
	ReceiverFault     = "receiver-fault"
	FleetSilent       = "fleet-silent"
	Gone              = "gone"
	Resolved          = "resolved"
)

// FleetHost is the host name fleet-level alerts carry.
const FleetHost = "*"

// Finding is a symptom that holds now.
type Finding struct {
	Host    string
	Symptom string
	Detail  string
}

// Judge holds what symptoms are judged by.
type Judge struct {
	Cfg config.FleetHealth
	// Accepted names the releases the gate accepts, for stale-code's fix.
	Accepted string
}

// Evaluate judges every host as of now. It returns the symptoms that hold
// and the hosts that have just become gone.
func (j *Judge) Evaluate(t *Tracker, now time.Time) (found []Finding, gone []Finding) {
	c := j.Cfg
	silentAfter, window := c.SilentAfter.Duration(), c.Window.Duration()
	fatalWin := c.FatalWindow.Duration()

	var silentHosts []silence
	var perHost []Finding
	active, saw5xx := 0, 0        // hosts active in the fatal window, and those of them that saw a 5xx
	recentlyActive := 0           // hosts active in the fleet-silent window (not off)
	fault5xx := map[string]bool{} // hosts whose failures a receiver fault would explain
	var total5xx int
	names := make([]string, 0, len(t.Hosts))
	for n := range t.Hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		h := t.Hosts[name]
		quietFor := now.Sub(h.LastSeen)
		if h.Gone {
			continue
		}
		// Gone: quiet past the window (a host that is off: past
		// off_gone_after; so is a host in quiet hours, which is expected
		// to be off for long stretches).
		goneAfter := window
		if h.Off != "" || j.inQuietGroup(name) {
			goneAfter = max(window, c.OffGoneAfter.Duration())
		}
		if quietFor > goneAfter {
			h.Gone = true
			detail := fmt.Sprintf("not seen since %s (%s ago)", h.LastSeen.UTC().Format(time.RFC3339), roundDur(quietFor))
			if h.Off != "" {
				detail += fmt.Sprintf("; its last word was %s", h.Off)
			}
			gone = append(gone, Finding{name, Gone, detail})
			continue
		}
		if quietFor <= window && h.Off == "" {
			if now.Sub(h.LastSeen) <= c.FleetSilentWindow.Duration() {
				recentlyActive++
			}
			since := h.LastSeen
			if end, ok := j.quietEnd(name, now); ok && end.After(since) {
				since = end // the grace restarts when quiet hours end
			}
			if j.quietNow(name, now) {
				since = now
			}
			if now.Sub(since) > silentAfter {
				silentHosts = append(silentHosts, silence{name, quietFor})
			}
		}
		if quietFor > fatalWin {
			continue
		}
		active++
		w := h.Window(now, fatalWin)
		if w.Any5 > 0 {
			saw5xx++
			fault5xx[name] = true
			total5xx += w.Any5
		}
		n := w.OK + w.C4 + w.C5
		switch {
		case n >= 1 && w.OK == 0 && w.Stale == n:
			perHost = append(perHost, Finding{name, StaleCode, j.staleDetail(h, n)})
		case n >= c.FatalMin && w.OK == 0:
			perHost = append(perHost, Finding{name, FatalOnly, fatalDetail(w, h)})
		}
		if h.Unstamped && now.Sub(h.LastLogs) <= fatalWin {
			perHost = append(perHost, Finding{name, Unstamped, "its log PUTs carry no X-Cis490-Code-Commit, so nobody can tell which code it runs; install a stamped release (autoupdate, or go build -buildvcs=true)"})
		}
		if d := duplicates(h, now, fatalWin); d != "" {
			perHost = append(perHost, Finding{name, DuplicateIdentity, d})
		}
	}

	// Fleet-level symptoms replace the per-host alerts they explain.
	need := func(of int) bool { return of >= c.FleetMin }
	share := func(part, of int) bool { return float64(part) >= c.FleetShare*float64(of)-1e-9 }
	receiverFault := need(active) && share(saw5xx, active)
	if receiverFault {
		found = append(found, Finding{FleetHost, ReceiverFault, fmt.Sprintf(
			"%d of %d hosts active in the last %s saw a 5xx (%d×5xx in all): the receiver itself is failing; check `journalctl -u cis490-receiver` and its last deploy",
			saw5xx, active, roundDur(fatalWin), total5xx)})
	}
	fleetSilent := need(recentlyActive) && share(countRecent(silentHosts, c.FleetSilentWindow.Duration()), recentlyActive)
	if fleetSilent {
		found = append(found, Finding{FleetHost, FleetSilent, fmt.Sprintf(
			"%d of %d hosts active in the last %s went silent together: the receiver or the network is down, not the hosts; check that the receiver is reachable",
			countRecent(silentHosts, c.FleetSilentWindow.Duration()), recentlyActive, roundDur(c.FleetSilentWindow.Duration()))})
	}
	for _, s := range silentHosts {
		if fleetSilent && s.for_ <= c.FleetSilentWindow.Duration() {
			continue
		}
		found = append(found, Finding{s.host, Silent, fmt.Sprintf("quiet for %s, last seen %s", roundDur(s.for_), t.Hosts[s.host].LastSeen.UTC().Format(time.RFC3339))})
	}
	for _, f := range perHost {
		if receiverFault && f.Symptom == FatalOnly && fault5xx[f.Host] {
			continue
		}
		found = append(found, f)
	}
	return found, gone
}

// silence is a silent host and how long it has been quiet.
type silence struct {
	host string
	for_ time.Duration
}

func countRecent(s []silence, within time.Duration) int {
	n := 0
	for _, x := range s {
		if x.for_ <= within {
			n++
		}
	}
	return n
}

func (j *Judge) staleDetail(h *Host, n int) string {
	acc := j.Accepted
	if acc == "" {
		acc = "a newer release"
	}
	return fmt.Sprintf("alive, but all %d of its log PUTs were refused by the version gate: it runs %s and the receiver accepts %s; its autoupdate is broken, run `cis490 autoupdate` on it and read its journal",
		n, shortCommit(h.StaleCommit), acc)
}

// fatalDetail counts the failures by class and names the dominant reason
// with its fix.
func fatalDetail(w Minute, h *Host) string {
	var parts []string
	if w.C4 > 0 {
		parts = append(parts, fmt.Sprintf("%d×4xx", w.C4))
	}
	if w.C5 > 0 {
		parts = append(parts, fmt.Sprintf("%d×5xx", w.C5))
	}
	d := "every log PUT failed: " + strings.Join(parts, " + ")
	r, n := dominant(w.Reasons)
	if r == "" {
		return d
	}
	d += fmt.Sprintf("; mostly %s (%d)", r, n)
	if fix := fixFor(r); fix != "" {
		d += ": " + fix
	}
	if r == "cert-expired" && !h.CertExpires.IsZero() {
		d += fmt.Sprintf(" (it expired %s)", h.CertExpires.UTC().Format(time.RFC3339))
	}
	return d
}

// fixFor says what to do about a refusal reason.
func fixFor(reason string) string {
	switch reason {
	case "cert-expired":
		return "its client certificate expired; run `cis490 cert-fetch` on it, or re-enroll it if cert-fetch cannot renew"
	case "cert-not-yet-valid":
		return "its certificate is not valid yet; check the host's clock (timedatectl)"
	case "cert-unknown-ca", "cert-invalid":
		return "its certificate is not from this fleet's CA; re-enroll it (`cis490 ca issue --host` or `cis490 enroll`)"
	case "no-cert":
		return "it sends no client certificate; check tls.cert and tls.key in its lab-host.toml"
	case "bad-token", "no-token":
		return "its bearer token is wrong or revoked; reissue its credentials (`cis490 ca issue --host`) or re-enroll it"
	case "host-mismatch":
		return "its certificate, token and configured host name disagree; reissue its bundle and check `host` in lab-host.toml"
	case "too-large":
		return "its batches exceed the receiver's limits.max_body; raise the limit or lower batch.max_bytes on the host"
	case "bad-name", "bad-stream":
		return "it names a stream the receiver refuses; fix the source's stream name in lab-host.toml"
	case "quota":
		return "it is over its quota; raise quota.host_bytes_per_day / host_bytes_total or find out why it logs so much"
	case "disk-full", "storage-full":
		return "the receiver's disk is nearly full; free space or lower retention"
	case "gap", "mismatch":
		return "its offsets disagree with the receiver's; a shipper that keeps failing to resync needs its state folder checked"
	case "panic", "internal":
		return "the receiver fails on its requests; read the receiver's journal"
	}
	return ""
}

func dominant(m map[string]int) (string, int) {
	best, n := "", 0
	for r, c := range m {
		if c > n || (c == n && r < best) {
			best, n = r, c
		}
	}
	return best, n
}

// duplicates reports two installations shipping as one host at the same
// time (a cloned image): their spans interleave and both are recent. A
// reinstall (the old one stops, then the new one starts) is not one.
func duplicates(h *Host, now time.Time, recent time.Duration) string {
	var ids []string
	for id, s := range h.Instances {
		if now.Sub(s.Last) <= recent {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for i := range ids {
		for k := i + 1; k < len(ids); k++ {
			a, b := h.Instances[ids[i]], h.Instances[ids[k]]
			if a.First.Before(b.Last) && b.First.Before(a.Last) {
				return fmt.Sprintf("%d installations ship as this host at once (instances %s): a cloned image? give each machine its own host name (and machine id: systemd-machine-id-setup) and bundle",
					len(ids), strings.Join(shortAll(ids), ", "))
			}
		}
	}
	return ""
}

func shortAll(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = shortCommit(id)
	}
	return out
}

func shortCommit(c string) string {
	if c == "" {
		return "unstamped code"
	}
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// roundDur prints a duration the way a person reads it.
func roundDur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(math.Round(d.Minutes())))
	case d < 48*time.Hour:
		h := int(d.Hours())
		m := int(d.Minutes()) - 60*h
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%02dm", h, m)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// inQuietGroup reports whether a quiet-hours rule names the host.
func (j *Judge) inQuietGroup(host string) bool {
	for _, q := range j.Cfg.QuietHours {
		if matchAny(q.Hosts, host) {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, host string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToLower(p), host); ok {
			return true
		}
	}
	return false
}

// quietPeriods lists the host's quiet periods that overlap the 8 days
// before now (and now itself).
func (j *Judge) quietPeriods(host string, now time.Time) [][2]time.Time {
	var out [][2]time.Time
	for _, q := range j.Cfg.QuietHours {
		if !matchAny(q.Hosts, host) {
			continue
		}
		loc := time.Local
		if q.TimeZone != "" {
			if l, err := time.LoadLocation(q.TimeZone); err == nil {
				loc = l
			}
		}
		from, _ := config.Clock(q.From)
		to, _ := config.Clock(q.To)
		days := q.Weekdays()
		local := now.In(loc)
		for back := 8; back >= -1; back-- {
			d := time.Date(local.Year(), local.Month(), local.Day()-back, 0, 0, 0, 0, loc)
			if !days[d.Weekday()] {
				continue
			}
			start := d.Add(time.Duration(from) * time.Minute)
			end := d.Add(time.Duration(to) * time.Minute)
			if to <= from {
				end = end.Add(24 * time.Hour)
			}
			out = append(out, [2]time.Time{start, end})
		}
	}
	return out
}

// quietNow reports whether now is inside one of the host's quiet periods.
func (j *Judge) quietNow(host string, now time.Time) bool {
	for _, p := range j.quietPeriods(host, now) {
		if !now.Before(p[0]) && now.Before(p[1]) {
			return true
		}
	}
	return false
}

// quietEnd returns the end of the host's latest quiet period before now.
func (j *Judge) quietEnd(host string, now time.Time) (time.Time, bool) {
	var last time.Time
	for _, p := range j.quietPeriods(host, now) {
		if !p[1].After(now) && p[1].After(last) {
			last = p[1]
		}
	}
	return last, !last.IsZero()
}
