package fleethealth

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"

	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/wire"
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
	DoctorFailing     = "doctor-failing"
	CertExpiring      = "cert-expiring"
	CertExpired       = "cert-expired"
	DoctorMissing     = "doctor-missing"
	OverQuota         = "over-quota"
	LostLogs          = "lost-logs"
	Gone              = "gone"
	Resolved          = "resolved"
)

// certExpiringWithin: a host certificate this close to its end has missed
// its renewals (due with a third of its life left, 10 days of 30).
const certExpiringWithin = 7 * 24 * time.Hour

// FleetHost is the host name fleet-level alerts carry.
const FleetHost = "*"

// Finding is a symptom that holds now.
type Finding struct {
	Host    string
	Symptom string
	Detail  string
}

// Judgement is what one evaluation found.
type Judgement struct {
	// Found are the symptoms that hold now.
	Found []Finding
	// Held are symptoms that hold but are not the news: explained by a
	// fleet-level symptom, or a silence inside the host's quiet hours. A
	// symptom already fired stays fired through them, neither repeated
	// nor resolved: only the host itself can clear it.
	Held []Finding
	// Gone are the hosts that have just left the window.
	Gone []Finding
	// Events name, by track key, the latest event of a finding that
	// reports events (lost-logs): it alerts once per event, never hourly,
	// and is never resolved.
	Events map[string]string
	// Group is the silence fleet-silent holds for now, nil when none: the
	// next run judges the same hosts.
	Group *SilentGroup
}

// Judge holds what symptoms are judged by.
type Judge struct {
	Cfg config.FleetHealth
	// Accepted names the releases the gate accepts, for stale-code's fix.
	Accepted string

	// Disk is the receiver's storage, for a full disk's detail and fix.
	Disk Disk

	zones map[string]*time.Location // quiet-hours time zones, loaded once
}

// Disk is what the detector knows of the receiver's storage: the settings
// a full disk's fix names, and the free space when it can be read.
type Disk struct {
	MinFree   config.Size      // limits.min_free
	Retention config.Retention // retention.max_age, retention.max_bytes
	// Free reads the free space on the data folder's disk now; nil when
	// it is not known (a replay judges a past the disk has moved on from).
	Free func() (int64, error)
}

// Evaluate judges every host as of now. It reads the tracker and changes
// nothing.
func (j *Judge) Evaluate(t *Tracker, now time.Time) Judgement {
	e := j.newEvaluation(t, now)
	for _, name := range e.names {
		e.host(name)
	}
	// Fleet-level symptoms replace the per-host alerts they explain.
	e.receiverFault()
	e.fleetSilent()
	e.settle()
	e.out.visible()
	return e.out
}

// visible makes every detail one line of visible text (human.Visible):
// details quote what hosts sent — commits, instance ids, doctor check
// names — and alerts.jsonl, syslog, the notifiers and the fleet view all
// show them to people.
func (j *Judgement) visible() {
	for _, fs := range [][]Finding{j.Found, j.Held, j.Gone} {
		for i := range fs {
			fs[i].Detail = human.Visible(fs[i].Detail)
		}
	}
}

// evaluation is one Evaluate's working state: what the per-host symptoms
// collect for the fleet-level ones, and the findings so far.
type evaluation struct {
	j       *Judge
	t       *Tracker
	now     time.Time
	names   []string  // every host, sorted
	lastAny time.Time // the fleet's latest word: frozen while the receiver is down
	ref     time.Time // now, or lastAny when the fleet has been quiet since
	outages []Outage

	silentAfter, window, fatalWin time.Duration

	out       Judgement
	perHost   []Finding
	silent    []string        // hosts silent now
	gone      []Finding       // hosts past their window
	recent    map[string]bool // hosts active before the fleet's latest word (fleet-silent's base)
	active    int
	saw5xx    int
	fresh5xx  int // of those, hosts that saw one within faultFresh
	total5xx  int
	mostly5xx map[string]bool // hosts whose failures a receiver fault explains
	diskFull  int             // hosts refused 507 disk-full
	total507  int             // their disk-full refusals
	// certExpired are the hosts whose certificate has expired.
	certExpired map[string]bool
	// quiet are the hosts quiet now without having said so, by last
	// word: a silence names those that went quiet with it.
	quiet []quietHost

	// group is the hosts fleet-silent holds for, nil when it does not.
	group *SilentGroup
	// overload is the receiver turning the fleet away, nil when it is not.
	overload *overload

	isReceiverFault bool
}

func (j *Judge) newEvaluation(t *Tracker, now time.Time) *evaluation {
	c := j.Cfg
	e := &evaluation{j: j, t: t, now: now,
		silentAfter: c.SilentAfter.Duration(), window: c.Window.Duration(), fatalWin: c.FatalWindow.Duration(),
		names: make([]string, 0, len(t.Hosts)), recent: map[string]bool{}, mostly5xx: map[string]bool{}, certExpired: map[string]bool{}}
	for n, h := range t.Hosts {
		e.names = append(e.names, n)
		e.lastAny = maxTime(e.lastAny, h.LastSeen)
	}
	sort.Strings(e.names)
	e.ref = minTime(now, e.lastAny)
	e.outages = t.outagesUntil(now)
	e.quiet = quietHosts(t, now, e.silentAfter)
	return e
}

// host judges one host's own symptoms, in order: gone, silent, the
// doctor's and the certificate's, then over the fatal window stale code
// or fatal only, unstamped and duplicate identity.
func (e *evaluation) host(name string) {
	h := e.t.Hosts[name]
	// A host's silence counts only while the index was listening:
	// during an outage nobody is heard, and after one a host gets
	// its grace again.
	heard := heardFor(h.LastSeen, e.now, e.outages)
	e.noteQuiet(name, h)
	if e.goneHost(name, h, heard) {
		return
	}
	e.silentHost(name, h, heard)
	e.doctorAndCert(name, h, heard)
	e.overQuota(name, h, heard)
	e.lostLogs(name, h)
	if e.now.Sub(h.LastSeen) > e.fatalWin {
		return
	}
	w := h.Window(e.now, e.fatalWin)
	e.count5xx(name, h, w)
	e.failing(name, h, w)
	e.unstamped(name, h)
	e.duplicateIdentity(name, h)
}

// noteQuiet records what fleet-silent weighs: who was recently active, and
// who is quiet now, whatever the reason.
func (e *evaluation) noteQuiet(name string, h *Host) {
	if h.Off == "" && e.ref.Sub(h.LastSeen) <= e.j.Cfg.FleetSilentWindow.Duration() {
		e.recent[name] = true
	}
	if h.Off == "" && e.now.Sub(h.LastSeen) > e.silentAfter && !e.j.quietNow(name, e.now) {
		e.silent = append(e.silent, name)
	}
}

// goneHost finds a host past its window; it is then judged no further.
func (e *evaluation) goneHost(name string, h *Host, heard time.Duration) bool {
	goneAfter := e.window
	if h.Off != "" || e.j.inQuietGroup(name) {
		// Off, or expected to be off for long stretches (nights,
		// weekends): gone only after off_gone_after.
		goneAfter = max(e.window, e.j.Cfg.OffGoneAfter.Duration())
	}
	if heard <= goneAfter {
		return false
	}
	detail := fmt.Sprintf("not seen since %s (%s ago)", h.LastSeen.UTC().Format(time.RFC3339), roundDur(e.now.Sub(h.LastSeen)))
	if h.Off != "" {
		// It said it was going; nothing failed that the index saw.
		detail += fmt.Sprintf("; its last word was %s: power it on, or retire it (it is forgotten until seen again)", h.Off)
	} else {
		detail += "; " + e.lastWord(name, h)
	}
	e.gone = append(e.gone, Finding{name, Gone, detail})
	return true
}

// silentHost finds a host quiet for longer than silent_after, held while
// it is expected to be quiet.
func (e *evaluation) silentHost(name string, h *Host, heard time.Duration) {
	if h.Off != "" || heard <= e.silentAfter {
		return
	}
	since := h.LastSeen
	if end, ok := e.j.quietEnd(name, e.now); ok && end.After(since) {
		since = end // the grace restarts when quiet hours end
	}
	f := Finding{name, Silent, fmt.Sprintf("quiet for %s, last seen %s; %s", roundDur(e.now.Sub(h.LastSeen)), h.LastSeen.UTC().Format(time.RFC3339), e.lastWord(name, h))}
	if e.j.quietNow(name, e.now) || heardFor(since, e.now, e.outages) <= e.silentAfter {
		e.out.Held = append(e.out.Held, f) // expected to be quiet now
	} else {
		e.perHost = append(e.perHost, f)
	}
}

// doctorAndCert finds the doctor's verdicts and a certificate close to
// expiry.
func (e *evaluation) doctorAndCert(name string, h *Host, heard time.Duration) {
	docs := doctorFindings(name, h, e.now)
	left := h.CertExpires.Sub(e.now)
	switch {
	case h.CertExpires.IsZero():
	case left <= 0:
		// Its own symptom, not cert-expiring gone quiet: the step from
		// one to the other is one alert (succeeds), never a resolved.
		e.certExpired[name] = true
		docs = append(docs, Finding{name, CertExpired, fmt.Sprintf("its certificate expired at %s (%s ago) without being renewed, so the receiver refuses its logs: run `cis490 cert-fetch` on it (it may renew within the receiver's grace after expiry), else re-enroll it with `cis490 enroll`",
			h.CertExpires.UTC().Format(time.RFC3339), roundDur(-left))})
	case left < certExpiringWithin:
		docs = append(docs, Finding{name, CertExpiring, fmt.Sprintf("its certificate expires at %s (in %s) and it has not renewed it (hosts renew with a third of the life left): run `cis490 cert-fetch` on it and check cis490-cert-fetch.timer",
			h.CertExpires.UTC().Format(time.RFC3339), roundDur(left))})
	}
	// A host that is off or silent keeps its doctor verdict, held:
	// nothing about it changed, so nothing is resolved.
	if h.Off != "" || heard > e.silentAfter {
		e.out.Held = append(e.out.Held, docs...)
	} else {
		e.perHost = append(e.perHost, docs...)
	}
}

// overQuota finds a host whose latest log PUT, within the window, was
// refused for a quota. It then honours Retry-After and sends no logs until
// the quota frees, so no other symptom holds: its heartbeats go on, its
// logs pile up on it. Like the doctor's verdict it is held while the host
// is off or silent (nothing about the quota changed); only a log PUT the
// receiver accepts clears it.
func (e *evaluation) overQuota(name string, h *Host, heard time.Duration) {
	q := h.OverQuota
	if q == nil || e.now.Sub(q.At) > e.window {
		return
	}
	f := Finding{name, OverQuota, quotaDetail(q, e.now)}
	if h.Off != "" || heard > e.silentAfter {
		e.out.Held = append(e.out.Held, f)
	} else {
		e.perHost = append(e.perHost, f)
	}
}

// quotaDetail says which quota, how far in, since when, what waits on the
// host, and the setting to change.
func quotaDetail(q *QuotaSeen, now time.Time) string {
	streams := q.Kind == "streams" || q.Kind == "" && q.Reason == wire.ReasonStreams
	var d string
	switch {
	case streams:
		d = "its log PUTs are refused: it is at its stream cap"
		if q.Limit > 0 {
			d = fmt.Sprintf("its log PUTs are refused: it has %d streams and may have %d", q.Used, q.Limit)
		}
	case q.Kind == "total":
		d = fmt.Sprintf("its log PUTs are refused: it holds %s on the receiver and its total quota is %s", human.Bytes(q.Used), human.Bytes(q.Limit))
	case q.Kind == "day":
		d = fmt.Sprintf("its log PUTs are refused: it used %s of its daily quota of %s (UTC day)", human.Bytes(q.Used), human.Bytes(q.Limit))
	default: // a receiver that does not write the numbers
		d = "its log PUTs are refused: it is over its quota (the receiver's index gives no numbers)"
	}
	d += fmt.Sprintf(", since %s (%s ago)", q.Since.UTC().Format(time.RFC3339), roundDur(now.Sub(q.Since)))
	var waiting int64
	for _, n := range q.Refused {
		waiting += n
	}
	if waiting > 0 {
		d += fmt.Sprintf("; at least %s waits on it (its refused batches)", human.Bytes(waiting))
	}
	fix := fixFor(wire.ReasonQuota)
	switch {
	case streams:
		fix = fixFor(wire.ReasonStreams)
	case q.Kind == "total":
		fix = "it is over its total quota and waits for retention to free room; raise quota.host_bytes_total in receiver.toml, or shorten retention (retention.max_age) so old logs make room"
	}
	return d + ": " + fix
}

// count5xx records what receiver-fault weighs: the active hosts, and
// which of them saw 5xx answers.
func (e *evaluation) count5xx(name string, h *Host, w Minute) {
	e.active++
	if w.Any5 > 0 {
		e.saw5xx++
		e.total5xx += w.Any5
		if h.Window(e.now, faultFresh).Any5 > 0 {
			e.fresh5xx++
		}
	}
	if w.C5 > 0 && w.C5 >= w.C4 {
		e.mostly5xx[name] = true
	}
	if n := w.Reasons[wire.ReasonDiskFull]; n > 0 {
		e.diskFull++
		e.total507 += n
	}
}

// failing finds a host whose every request in the fatal window failed:
// stale code when the gate refused them all, else fatal only.
func (e *evaluation) failing(name string, h *Host, w Minute) {
	n := w.OK + w.C4 + w.C5
	switch {
	case n >= 1 && w.OK == 0 && w.Stale == n:
		e.perHost = append(e.perHost, Finding{name, StaleCode, e.j.staleDetail(h, n)})
	case n >= e.j.Cfg.FatalMin && w.OK == 0 && h.OverQuota == nil:
		// Over quota, the refusals are over-quota's: one alert, not two.
		e.perHost = append(e.perHost, Finding{name, FatalOnly, fatalDetail(w, h)})
	}
}

// unstamped finds a host shipping logs without a code stamp.
func (e *evaluation) unstamped(name string, h *Host) {
	if h.Unstamped && e.now.Sub(h.LastLogs) <= e.fatalWin {
		e.perHost = append(e.perHost, Finding{name, Unstamped, "its log PUTs carry no X-Cis490-Code-Commit, so nobody can tell which code it runs; install a stamped release (autoupdate, or go build -buildvcs=true)"})
	}
}

// duplicateIdentity finds two machines shipping as one host.
func (e *evaluation) duplicateIdentity(name string, h *Host) {
	if d := duplicates(h, e.now, e.fatalWin); d != "" {
		e.perHost = append(e.perHost, Finding{name, DuplicateIdentity, d})
	}
}

// enough says whether part of of hosts is a fleet-level share.
func (e *evaluation) enough(part, of int) bool {
	c := e.j.Cfg
	return of >= c.FleetMin && float64(part) >= c.FleetShare*float64(of)-1e-9
}

// faultFresh is how recent a 5xx must be for receiver-fault to go on
// holding: it is judged over the fatal window (30 min), but once the
// receiver answers well again it clears within two runs, not when the
// window has slid past its last 5xx.
const faultFresh = 2 * overloadSlice

// receiverFault finds enough active hosts seeing 5xx at once, or the
// receiver turning most of them away as overloaded for two runs.
func (e *evaluation) receiverFault() {
	e.isReceiverFault = e.enough(e.saw5xx, e.active) && e.fresh5xx > 0
	if !e.isReceiverFault {
		if e.overload = e.overloaded(); e.overload != nil {
			e.out.Found = append(e.out.Found, Finding{FleetHost, ReceiverFault, e.overload.detail(e)})
		}
		return
	}
	if 2*e.diskFull >= e.saw5xx {
		// Most of the hosts that saw a 5xx were refused for a full disk:
		// a deploy did not break it, its disk filled up.
		e.out.Found = append(e.out.Found, Finding{FleetHost, ReceiverFault, fmt.Sprintf(
			"disk full: %d of %d hosts active in the last %s were refused with 507 disk-full (%d in all): %s",
			e.diskFull, e.active, roundDur(e.fatalWin), e.total507, e.j.Disk.fix())})
		return
	}
	e.out.Found = append(e.out.Found, Finding{FleetHost, ReceiverFault, fmt.Sprintf(
		"%d of %d hosts active in the last %s saw a 5xx (%d×5xx in all): the receiver itself is failing; check `journalctl -u cis490-receiver` and its last deploy",
		e.saw5xx, e.active, roundDur(e.fatalWin), e.total5xx)})
}

// fix says why the receiver refuses writes and what to change: its free
// space against limits.min_free, and the retention that would make room.
func (d Disk) fix() string {
	why := "the receiver's data disk has less free space than limits.min_free"
	if d.MinFree > 0 {
		why += " (" + d.MinFree.String() + ")" // as receiver.toml writes it
	}
	if d.Free != nil {
		if free, err := d.Free(); err != nil {
			why += fmt.Sprintf(" (free space unreadable: %v)", err)
		} else {
			why += ", " + human.Bytes(free) + " free now"
		}
	}
	age, size := "unset", "unset"
	if d.Retention.MaxAge > 0 {
		age = roundDur(d.Retention.MaxAge.Duration())
	}
	if d.Retention.MaxBytes > 0 {
		size = d.Retention.MaxBytes.String()
	}
	return why + ", so it stores nothing more; free space on that disk, or lower retention.max_age (now " + age +
		") or set retention.max_bytes (now " + size + ") in receiver.toml and restart cis490-receiver so old logs make room"
}

// explained says whether a fleet-level symptom explains a host's finding.
func (e *evaluation) explained(f Finding) bool {
	switch f.Symptom {
	case Silent, Gone:
		return e.group != nil && e.group.has(f.Host)
	case FatalOnly:
		return e.isReceiverFault && e.mostly5xx[f.Host] || e.certExpired[f.Host] && e.mostly(f.Host, wire.ReasonCertExpired) ||
			e.overload != nil && e.mostly(f.Host, wire.ReasonOverloaded)
	}
	return false
}

// mostly says whether a host's failures in the fatal window are mostly
// for reason: an expired certificate (cert-expired already says so, with
// the date and the fix) or the receiver overloaded (its own alert).
func (e *evaluation) mostly(name, reason string) bool {
	r, _ := dominant(e.t.Hosts[name].Window(e.now, e.fatalWin).Reasons)
	return r == reason
}

// settle files the per-host findings: held when a fleet-level symptom
// explains them, news otherwise.
func (e *evaluation) settle() {
	for _, f := range e.perHost {
		if e.explained(f) {
			e.out.Held = append(e.out.Held, f)
		} else {
			e.out.Found = append(e.out.Found, f)
		}
	}
	for _, g := range e.gone {
		if e.explained(g) {
			continue // the receiver was down, not the host: keep it
		}
		e.out.Gone = append(e.out.Gone, g)
	}
}

func (j *Judge) staleDetail(h *Host, n int) string {
	acc := j.Accepted
	if acc == "" {
		acc = "a newer release"
	}
	puts := fmt.Sprintf("all %d of its log PUTs were", n)
	switch n {
	case 1:
		puts = "its one log PUT was"
	case 2:
		puts = "both its log PUTs were"
	}
	return fmt.Sprintf("alive, but %s refused by the version gate: it runs %s and the receiver accepts %s; its autoupdate is broken, run `cis490 autoupdate` on it and read its journal",
		puts, human.Commit(h.StaleCommit), acc)
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
	if r == wire.ReasonCertExpired && !h.CertExpires.IsZero() {
		d += fmt.Sprintf(" (it expired %s)", h.CertExpires.UTC().Format(time.RFC3339))
	}
	return d
}

// fixFor says what a refusal reason means for the host and what to do:
// each reason its own cause and fix, so an alert never sends a maintainer
// to the wrong place (TestFixesDiffer holds them apart).
func fixFor(reason string) string {
	switch reason {
	case wire.ReasonCertExpired:
		return "its client certificate expired; run `cis490 cert-fetch` on it, or re-enroll it if cert-fetch cannot renew"
	case wire.ReasonCertNotYet:
		return "its certificate is not valid yet; check the host's clock (timedatectl)"
	case wire.ReasonCertUnknown:
		return "its certificate is not from this fleet's CA; re-enroll it (`cis490 ca issue --host` or `cis490 enroll`)"
	case wire.ReasonCertRevoked:
		return "its certificate was revoked on the receiver; if that was a mistake issue it a new bundle (`cis490 ca issue --host`), else power it off"
	case wire.ReasonCertSuperseded:
		return "it presents an expired certificate older than the newest issued to it (a restored backup or a second machine?); install the host's newest bundle or re-enroll it"
	case wire.ReasonNoCert:
		return "it sends no client certificate; check tls.cert and tls.key in its lab-host.toml"
	case wire.ReasonBadToken:
		return "its bearer token is wrong or revoked; reissue its credentials (`cis490 ca issue --host`) or re-enroll it"
	case wire.ReasonNoToken:
		return "it sends no bearer token; check tls.token_file in its lab-host.toml and that the file is readable by the shipper"
	case wire.ReasonHostMismatch:
		return "its certificate, token and configured host name disagree; reissue its bundle and check `host` in lab-host.toml"
	case wire.ReasonCertBadUsage:
		return "its certificate is not a host's client certificate; reissue its bundle with `cis490 ca issue --host`"
	case wire.ReasonCredMismatch:
		return "it mixes an admin certificate with a host token (or the reverse); install the host's own bundle"
	case wire.ReasonTooLarge:
		return "its batches exceed the receiver's limits.max_body; raise the limit or lower batch.max_bytes on the host"
	case wire.ReasonBadName:
		return "it names a stream the receiver refuses; fix the source's stream name in lab-host.toml"
	case wire.ReasonBadOffset:
		return "it sends offsets this receiver cannot parse (an old or broken shipper); update it (`cis490 autoupdate`) and read its journal"
	case wire.ReasonBadGeneration:
		return "it sends a stream generation this receiver cannot parse (an old or broken shipper); update it (`cis490 autoupdate`) and read its journal"
	case wire.ReasonBeforeStart:
		return "it asks for bytes retention already removed; its state folder is older than the receiver's data: let it resync, and check retention if it recurs"
	case wire.ReasonNoStream:
		return "it appends to a stream the receiver does not have at that offset (data lost or removed on the receiver?); check the receiver's data folder, then let the host resync"
	case wire.ReasonBody:
		return "its request bodies arrive incomplete; check the network between it and the receiver (a proxy cutting bodies?)"
	case wire.ReasonSlowBody:
		return "its request bodies arrive slower than limits.min_body_rate; check its uplink, or lower the limit in receiver.toml"
	case wire.ReasonRate:
		return "it sends more requests a second than limits.host_rate allows; check its batch.max_wait, or raise limits.host_rate"
	case wire.ReasonQuota:
		return "it is over its daily quota and sends no logs until midnight UTC; raise quota.host_bytes_per_day in receiver.toml (it applies to every host), or find out why it logs so much"
	case wire.ReasonStreams:
		return "it has as many streams as quota.host_streams allows and new ones are refused; ship fewer files or raise quota.host_streams"
	case wire.ReasonDiskFull:
		return "the receiver's disk is nearly full; free space or lower retention"
	case wire.ReasonGap:
		return "it sends bytes past the end the receiver holds (its offsets ran ahead); a shipper that keeps failing to resync needs its state folder checked"
	case wire.ReasonMismatch:
		return "it resends bytes the receiver holds differently (two machines as one host, or a file rewritten in place?); check for a clone, then its state folder"
	case wire.ReasonPanic:
		return "the receiver fails on its requests (a bug): read the receiver's journal"
	case wire.ReasonStorage:
		return "the receiver cannot store requests (its storage failed): read the receiver's journal and restart it"
	case wire.ReasonOverloaded:
		return "the receiver is overloaded and asks it to retry later; raise limits.max_inflight or spread the fleet's load"
	case wire.ReasonCanceled:
		return "its requests are cut off before they end; check the network between it and the receiver"
	case wire.ReasonStaleCode:
		return "the version gate refuses its code; run `cis490 autoupdate` on it and read its journal"
	case wire.ReasonBadLost:
		return "its shipper's account of lost bytes (X-Cis490-Lost) is unreadable to this receiver; update the shipper or the receiver so both are the same release"
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
// time (a cloned image): requests switching between installations again
// and again within the window. A reinstall switches once; a dual boot or
// a rollback now and then switches far less often.
func duplicates(h *Host, now time.Time, recent time.Duration) string {
	n := 0
	for _, at := range h.Switches {
		if now.Sub(at) <= recent {
			n++
		}
	}
	if n < 3 {
		return ""
	}
	var ids []string
	for id, last := range h.Instances {
		if now.Sub(last) <= recent {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return fmt.Sprintf("%d installations ship as this host at once (instances %s; %d switches in %s): a cloned image? give each machine its own host name (and machine id: systemd-machine-id-setup) and bundle",
		len(ids), strings.Join(shortAll(ids), ", "), n, roundDur(recent))
}

func shortAll(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id[:min(len(id), 12)]
	}
	return out
}

// roundDur prints a duration the way a person reads it.
func roundDur(d time.Duration) string {
	// Whole units, cut down rather than rounded, as human.Duration writes
	// a host's "last seen": "quiet for 2m" beside "last seen 1m ago" reads
	// as a contradiction.
	switch {
	case d < time.Minute:
		return d.Truncate(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
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
