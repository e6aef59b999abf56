package incidents

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// checkFixes reads every alert line the library wrote (TestIncidents
// replays it): each detail must name a cause and a fix a maintainer can act on
// without opening the index, and two different causes must never get the
// same fix, word for word (a fix that fits every cause fits none).
//
// A detail is "<cause>: <fix>": the fix is what follows its last ": "
// outside parentheses (details quote times as 10:00Z). A
// resolved line carries the detail it clears, "(it was: …)", which is
// held to the same rule. The cause is the symptom and its dominant
// reason, read from the detail (causeOf).
func checkFixes(t *testing.T, all []alertLine) {
	t.Helper()
	if len(all) == 0 {
		t.Fatal("the library wrote no alert at all")
	}
	for _, p := range fixProblems(all) {
		t.Error(p)
	}
}

// fixProblems lists the alerts whose detail names no cause or no fix, and
// every fix that two different causes share.
func fixProblems(all []alertLine) []string {
	var out []string
	fixes := map[string]map[string]string{} // fix → cause → an alert with it
	for _, a := range all {
		d := a.Detail
		if a.Resolves != "" {
			_, was, ok := strings.Cut(d, "(it was: ")
			if !ok {
				out = append(out, fmt.Sprintf("%s: its detail does not say what it cleared: %s", a, d))
				continue
			}
			d = strings.TrimSuffix(was, ")")
		}
		cause, fix, ok := splitFix(d)
		if !ok || !actionable(fix) {
			out = append(out, fmt.Sprintf("%s: no fix a maintainer can act on in %q", a, d))
			continue
		}
		if a.Resolves != "" {
			continue // the cause it cleared was checked when it fired
		}
		if len(cause) < 10 {
			out = append(out, fmt.Sprintf("%s: no cause before its fix in %q", a, d))
		}
		key := normalize(fix)
		if fixes[key] == nil {
			fixes[key] = map[string]string{}
		}
		fixes[key][causeOf(a)] = a.String() + ": " + a.Detail
	}
	for fix, causes := range fixes {
		if len(causes) < 2 {
			continue
		}
		var lines []string
		for c, a := range causes {
			lines = append(lines, "  "+c+" ← "+a)
		}
		sort.Strings(lines)
		out = append(out, fmt.Sprintf("%d different causes get the same fix %q:\n%s", len(causes), fix, strings.Join(lines, "\n")))
	}
	sort.Strings(out)
	return out
}

// TestFixProblems: the check above catches a detail without a fix and
// one fix given to two causes, and lets one cause keep one fix across
// hosts, times and symptoms.
func TestFixProblems(t *testing.T) {
	deploy := "the receiver itself is failing; check `journalctl -u cis490-receiver` and its last deploy"
	full := "free space on that disk, or lower retention.max_age (now 90d)"
	for _, tc := range []struct {
		name   string
		alerts []alertLine
		want   string // a problem must contain it; "" for none
	}{
		{"one cause, hosts and numbers apart", []alertLine{
			{Host: "*", Symptom: "receiver-fault", Detail: "3 of 4 hosts active in the last 30m saw a 5xx (12×5xx in all): " + deploy},
			{Host: "*", Symptom: "receiver-fault", Detail: "9 of 9 hosts active in the last 30m saw a 5xx (80×5xx in all): " + deploy},
		}, ""},
		{"one cause, two symptoms", []alertLine{
			{Host: "*", Symptom: "receiver-fault", Detail: "disk full: 8 of 8 hosts were refused with 507 disk-full (40 in all): " + full},
			{Host: "*", Symptom: "fleet-silent", Detail: "disk full: 8 of 8 hosts went silent together right after 507 disk-full: " + full},
		}, ""},
		{"two causes, one fix", []alertLine{
			{Host: "*", Symptom: "receiver-fault", Detail: "disk full: 8 of 8 hosts were refused with 507 disk-full (40 in all): " + deploy},
			{Host: "*", Symptom: "receiver-fault", Detail: "9 of 9 hosts active in the last 30m saw a 5xx (80×5xx in all): " + deploy},
		}, "2 different causes get the same fix"},
		{"no fix", []alertLine{
			{Host: "lab-01", Symptom: "silent", Detail: "quiet for 35m, last seen 2026-11-26T09:59:35Z"},
		}, "no fix a maintainer can act on"},
		{"a resolved whose old detail had no fix", []alertLine{
			{Host: "lab-01", Symptom: "resolved", Resolves: "silent", Detail: "silent cleared after 1h (it was: quiet for 35m, last seen 09:59Z)"},
		}, "no fix a maintainer can act on"},
		{"a colon inside parentheses", []alertLine{
			{Host: "lab-04", Symptom: "duplicate-identity", Detail: "2 installations ship as this host: a cloned image? give each machine its own host name (and machine id: systemd-machine-id-setup) and bundle"},
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(fixProblems(tc.alerts), "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("problems %q; want %q", got, tc.want)
			}
		})
	}
}

// splitFix cuts a detail at its last ": " outside parentheses into its
// cause and its fix.
func splitFix(d string) (cause, fix string, ok bool) {
	cut, depth := -1, 0
	for i := 0; i < len(d); i++ {
		switch {
		case d[i] == '(':
			depth++
		case d[i] == ')' && depth > 0:
			depth--
		case depth == 0 && strings.HasPrefix(d[i:], ": "):
			cut = i
		}
	}
	if cut < 0 {
		return "", "", false
	}
	return d[:cut], strings.TrimSpace(d[cut+2:]), true
}

// actionVerbs are the words a fix starts its actions with: a fix tells
// somebody to do something.
var actionVerbs = regexp.MustCompile(`(?i)\b(run|check|raise|lower|set|free|give|install|update|re-enroll|reissue|fix|power|retire|read|restart|spread|ship|keep|use|add|compress)\b`)

// actionable says whether a fix names something to do.
func actionable(fix string) bool {
	return len(fix) >= 20 && actionVerbs.MatchString(fix)
}

// normalize drops what differs between two alerts of one cause: hosts,
// times, numbers and commits.
var (
	hostRE   = regexp.MustCompile(`\blab-\d+\b`)
	numberRE = regexp.MustCompile(`\b[0-9a-f]{12,40}\b|\b\d+`)
)

func normalize(s string) string {
	return numberRE.ReplaceAllString(hostRE.ReplaceAllString(s, "HOST"), "N")
}

var (
	mostlyRE  = regexp.MustCompile(`mostly (\S+) \(`)            // fatal-only's dominant reason
	refusedRE = regexp.MustCompile(`answered [45]\d\d (\S+) \(`) // a quiet host's last refusal, with its fix
)

// causeOf names an alert's cause: its symptom and, where one symptom has
// several causes, the one its detail gives (the dominant refusal, the
// refusal a quiet host last got, the quota, a full disk or a receiver
// overloaded rather than failing).
func causeOf(a alertLine) string {
	d := a.Detail
	switch a.Symptom {
	case "fatal-only":
		if m := mostlyRE.FindStringSubmatch(d); m != nil {
			return "refused " + m[1]
		}
	case "silent", "gone":
		switch {
		case strings.Contains(d, "its last word was"):
			return "off"
		case refusedRE.MatchString(d):
			return "refused " + refusedRE.FindStringSubmatch(d)[1] + " then quiet"
		case strings.Contains(d, "went quiet within"):
			return "quiet with others"
		}
		return "quiet"
	case "receiver-fault", "fleet-silent":
		switch {
		case strings.HasPrefix(d, "disk full"):
			return "disk full" // either symptom: one cause, one fix
		case strings.Contains(d, "overloaded"):
			return "receiver overloaded"
		}
	case "over-quota":
		for _, q := range []string{"daily quota", "total quota", "streams"} {
			if strings.Contains(d, q) {
				return "over " + q
			}
		}
	}
	return a.Symptom
}
