package journal

import (
	"path"
	"strings"
)

// Filter chooses the entries a journal source ships. The shipper filters,
// not journalctl: journalctl 252 mishandles a match combined with a
// cursor (see the package comment).
type Filter struct {
	// Units: an entry of any of these units (_SYSTEMD_UNIT or
	// _SYSTEMD_USER_UNIT; a name without a suffix means .service, like
	// journalctl -u; globs like "cron*" allowed).
	Units []string
	// Identifiers: an entry with any of these SYSLOG_IDENTIFIERs.
	Identifiers []string
	// MaxPriority: entries of this priority or more urgent (lower number);
	// 7 (debug) ships all. An entry with no priority ships.
	MaxPriority int
}

// NewFilter normalises unit names; maxPriority is 0–7.
func NewFilter(units, identifiers []string, maxPriority int) Filter {
	f := Filter{Identifiers: identifiers, MaxPriority: maxPriority}
	for _, u := range units {
		f.Units = append(f.Units, UnitName(u))
	}
	return f
}

// UnitName adds ".service" to a unit name without a suffix, as journalctl
// -u does.
func UnitName(u string) string {
	if strings.ContainsAny(u, "*?[") || strings.Contains(path.Base(u), ".") {
		return u
	}
	return u + ".service"
}

// Match reports whether e ships. With neither units nor identifiers every
// entry matches them; with either, an entry matching any listed unit or
// any listed identifier does. The priority limit applies to all.
func (f Filter) Match(e Entry) bool {
	if e.Priority > f.MaxPriority {
		return false
	}
	if len(f.Units) == 0 && len(f.Identifiers) == 0 {
		return true
	}
	for _, u := range f.Units {
		if globMatch(u, e.Unit) || globMatch(u, e.UserUnit) {
			return true
		}
	}
	for _, id := range f.Identifiers {
		if globMatch(id, e.Identifier) {
			return true
		}
	}
	return false
}

func globMatch(pattern, s string) bool {
	if s == "" {
		return false
	}
	if pattern == s {
		return true
	}
	ok, err := path.Match(pattern, s)
	return ok && err == nil
}
