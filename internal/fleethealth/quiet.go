package fleethealth

import (
	"path"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"
)

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

// zone loads a quiet-hours time zone once per Judge.
func (j *Judge) zone(name string) *time.Location {
	if name == "" {
		return time.Local
	}
	if l, ok := j.zones[name]; ok {
		return l
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = time.Local // config validation has already refused it
	}
	if j.zones == nil {
		j.zones = map[string]*time.Location{}
	}
	j.zones[name] = l
	return l
}

// quietPeriods lists the host's quiet periods that overlap the 8 days
// before now (and now itself), as wall-clock times in their zone, so a
// daylight-saving day keeps "19:00" at 19:00.
func (j *Judge) quietPeriods(host string, now time.Time) [][2]time.Time {
	var out [][2]time.Time
	for _, q := range j.Cfg.QuietHours {
		if !matchAny(q.Hosts, host) {
			continue
		}
		loc := j.zone(q.TimeZone)
		from, _ := config.Clock(q.From)
		to, _ := config.Clock(q.To)
		days := q.Weekdays()
		local := now.In(loc)
		for back := 8; back >= -1; back-- {
			d := time.Date(local.Year(), local.Month(), local.Day()-back, 0, 0, 0, 0, loc)
			if !days[d.Weekday()] {
				continue
			}
			start := time.Date(d.Year(), d.Month(), d.Day(), from/60, from%60, 0, 0, loc)
			endDay := d
			if to <= from {
				endDay = d.AddDate(0, 0, 1)
			}
			end := time.Date(endDay.Year(), endDay.Month(), endDay.Day(), to/60, to%60, 0, 0, loc)
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
