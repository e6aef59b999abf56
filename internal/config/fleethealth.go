package config

import (
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"
)

// FleetHealth configures `cis490 fleet-health`, the detector that reads the
// index every 5 minutes and alerts on sick hosts. It lives in receiver.toml
// under [fleet_health]: the detector runs on the receiver's machine and
// reads the receiver's data_dir.
type FleetHealth struct {
	// SilentAfter: a host seen in Window but quiet for longer than this is
	// silent.
	SilentAfter Duration `toml:"silent_after"`
	// Window is how far back a host counts as seen; a silent host quiet for
	// longer is reported once as gone.
	Window Duration `toml:"window"`
	// OffGoneAfter: a host whose last word was shutdown or sleep is off,
	// not silent, until it has been off this long; then it is gone.
	OffGoneAfter Duration `toml:"off_gone_after"`
	// FatalWindow and FatalMin: a host that made at least FatalMin log
	// requests in the last FatalWindow, all of them failed, is fatal-only.
	FatalWindow Duration `toml:"fatal_window"`
	FatalMin    int      `toml:"fatal_min_requests"`
	// ConfirmRuns is how many consecutive runs a symptom must hold before
	// it fires, and a fired one must be clear before it is resolved.
	ConfirmRuns int `toml:"confirm_runs"`
	// FleetShare and FleetMin: receiver-fault when at least this share of
	// the hosts active in FatalWindow (and at least FleetMin) saw a 5xx;
	// fleet-silent when as many of those active in FleetSilentWindow went
	// silent.
	FleetShare        float64  `toml:"fleet_share"`
	FleetMin          int      `toml:"fleet_min_hosts"`
	FleetSilentWindow Duration `toml:"fleet_silent_window"`
	// Syslog: "" or "local" logs to the local syslog daemon; "off" does not
	// log; "unixgram:/path", "udp:host:514" or "tcp:host:514" names one.
	Syslog string `toml:"syslog"`
	// DeadmanURL, when set, is fetched after every clean run (a
	// healthchecks.io-style ping), and DeadmanURL + "/fail" after a run
	// that could not finish.
	DeadmanURL string       `toml:"deadman_url"`
	Notify     []Notifier   `toml:"notify"`
	QuietHours []QuietHours `toml:"quiet_hours"`
}

// Notifier is where alerts are sent besides alerts.jsonl and syslog.
type Notifier struct {
	// Kind: "webhook" posts each alert as its JSON line; "ntfy" posts the
	// text to an ntfy topic URL with a title and tags; "slack" posts
	// {"text": …} (Slack, Mattermost, Rocket.Chat, Discord's /slack).
	Kind string `toml:"kind"`
	URL  string `toml:"url"`
}

// QuietHours suppress `silent` for the hosts of a group while they are
// expected to be off (a room switched off at night and at weekends).
type QuietHours struct {
	// Hosts are name patterns (path.Match: lab-2*, room-b-??).
	Hosts []string `toml:"hosts"`
	// Days the period starts on: mon … sun, or "weekdays", "weekend",
	// "daily". Empty means daily.
	Days []string `toml:"days"`
	// From and To are local times "HH:MM"; To at or before From ends the
	// next day ("19:00" to "07:00"); "00:00" to "24:00" is the whole day.
	From string `toml:"from"`
	To   string `toml:"to"`
	// TimeZone is an IANA zone name ("Europe/Berlin"); empty is the
	// machine's local time.
	TimeZone string `toml:"timezone"`
}

// DefaultFleetHealth returns the thresholds of the spec.
func DefaultFleetHealth() FleetHealth {
	return FleetHealth{
		SilentAfter:       Duration(30 * time.Minute),
		Window:            Duration(24 * time.Hour),
		OffGoneAfter:      Duration(7 * Day),
		FatalWindow:       Duration(30 * time.Minute),
		FatalMin:          3,
		ConfirmRuns:       2,
		FleetShare:        0.5,
		FleetMin:          3,
		FleetSilentWindow: Duration(2 * time.Hour),
		Syslog:            "local",
	}
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Weekdays returns the days the period starts on.
func (q QuietHours) Weekdays() map[time.Weekday]bool {
	out := map[time.Weekday]bool{}
	if len(q.Days) == 0 {
		q.Days = []string{"daily"}
	}
	for _, d := range q.Days {
		switch d = strings.ToLower(d); d {
		case "daily":
			for _, w := range weekdays {
				out[w] = true
			}
		case "weekdays":
			for _, w := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday} {
				out[w] = true
			}
		case "weekend":
			out[time.Saturday], out[time.Sunday] = true, true
		default:
			if w, ok := weekdays[d[:min(3, len(d))]]; ok {
				out[w] = true
			}
		}
	}
	return out
}

// Clock parses "HH:MM" (00:00 to 24:00) into minutes after midnight.
func Clock(s string) (int, bool) {
	var h, m int
	if n, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || n != 2 || len(s) != 5 {
		return 0, false
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

func (f *FleetHealth) validate(p *problems) {
	pos := func(key string, d Duration) {
		if d <= 0 {
			p.add("fleet_health."+key, "%s is not a positive duration; %s", d, durationHint)
		}
	}
	pos("silent_after", f.SilentAfter)
	pos("window", f.Window)
	pos("off_gone_after", f.OffGoneAfter)
	pos("fatal_window", f.FatalWindow)
	pos("fleet_silent_window", f.FleetSilentWindow)
	if f.Window > 0 && f.SilentAfter >= f.Window {
		p.add("fleet_health.silent_after", "%s is not shorter than fleet_health.window (%s), so no host could ever be silent; write less, like \"30m\"", f.SilentAfter, f.Window)
	}
	if f.FatalMin < 1 {
		p.add("fleet_health.fatal_min_requests", "%d: write 1 or more (the default is 3)", f.FatalMin)
	}
	if f.ConfirmRuns < 1 || f.ConfirmRuns > 100 {
		p.add("fleet_health.confirm_runs", "%d: write 1 (fire on the first run) to 100 (the default is 2)", f.ConfirmRuns)
	}
	if !(f.FleetShare > 0 && f.FleetShare <= 1) {
		p.add("fleet_health.fleet_share", "%v is not a share; write a number above 0 and at most 1, like 0.5", f.FleetShare)
	}
	if f.FleetMin < 1 {
		p.add("fleet_health.fleet_min_hosts", "%d: write 1 or more (the default is 3)", f.FleetMin)
	}
	switch s := f.Syslog; {
	case s == "", s == "local", s == "off":
	case strings.HasPrefix(s, "unixgram:"), strings.HasPrefix(s, "unix:"), strings.HasPrefix(s, "udp:"), strings.HasPrefix(s, "tcp:"):
	default:
		p.add("fleet_health.syslog", `%q: write "local", "off", or a network and address like "udp:10.0.0.5:514" or "unixgram:/dev/log"`, s)
	}
	if f.DeadmanURL != "" {
		httpURL(p, "fleet_health.deadman_url", f.DeadmanURL)
	}
	for i, n := range f.Notify {
		key := fmt.Sprintf("fleet_health.notify[%d]", i)
		switch n.Kind {
		case "webhook", "ntfy", "slack":
		default:
			p.add(key+".kind", `%q: write "webhook" (the alert's JSON line), "ntfy" or "slack"`, n.Kind)
		}
		httpURL(p, key+".url", n.URL)
	}
	for i, q := range f.QuietHours {
		key := fmt.Sprintf("fleet_health.quiet_hours[%d]", i)
		if len(q.Hosts) == 0 {
			p.add(key+".hosts", `is empty; list host name patterns, like ["lab-2*"]`)
		}
		for _, h := range q.Hosts {
			if _, err := path.Match(h, ""); err != nil {
				p.add(key+".hosts", "%q is not a pattern: %v; write a name with * and ? wildcards, like \"lab-2*\"", h, err)
			}
		}
		for _, d := range q.Days {
			d = strings.ToLower(d)
			if _, ok := weekdays[d[:min(3, len(d))]]; !ok && d != "daily" && d != "weekdays" && d != "weekend" {
				p.add(key+".days", `%q is not a day; write mon … sun, "weekdays", "weekend" or "daily"`, d)
			}
		}
		from, ok1 := Clock(q.From)
		to, ok2 := Clock(q.To)
		if !ok1 {
			p.add(key+".from", `%q is not a time of day; write "HH:MM", like "19:00"`, q.From)
		}
		if !ok2 {
			p.add(key+".to", `%q is not a time of day; write "HH:MM", like "07:00" (24:00 is midnight at the end of the day)`, q.To)
		}
		if ok1 && ok2 && from == to {
			p.add(key+".to", `is the same as from (%s), an empty period; to cover a whole day write from = "00:00", to = "24:00"`, q.From)
		}
		if q.TimeZone != "" {
			if _, err := time.LoadLocation(q.TimeZone); err != nil {
				p.add(key+".timezone", "%q is not a known time zone: %v; write an IANA name like \"Europe/Berlin\", or leave it out for local time", q.TimeZone, err)
			}
		}
	}
}

func httpURL(p *problems, key, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(key, "%q is not an http(s) URL; write one like \"https://ntfy.sh/lab-alerts\"", s)
	}
}
