package fleethealth

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/cis490/cis490/internal/human"
)

// WriteTable prints a run's result for people: the alert lines it wrote
// (or, dry, would write) and every other live symptom with where it
// stands. Details quote hosts, so every field goes through human.Visible:
// this is printed on a terminal.
func WriteTable(w io.Writer, res *Result, confirm int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSYMPTOM\tNOW\tDETAIL")
	alerted := map[string]bool{}
	for _, a := range res.Alerts {
		sym := a.Symptom
		if a.Resolves != "" {
			sym += " " + a.Resolves
		}
		alerted[trackKey(a.Host, a.Symptom)] = true
		now := "alert"
		if a.Silenced != "" {
			now = "silenced " + a.Silenced // written, not sent
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", human.Visible(a.Host), human.Visible(sym), now, human.Visible(a.Detail))
	}
	vs := append([]Verdict(nil), res.Verdicts...)
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].Host != vs[j].Host {
			return vs[i].Host < vs[j].Host
		}
		return vs[i].Symptom < vs[j].Symptom
	})
	for _, v := range vs {
		if alerted[trackKey(v.Host, v.Symptom)] {
			continue
		}
		var now string
		switch {
		case v.Clears > 0:
			now = fmt.Sprintf("clearing %d/%d", v.Clears, confirm)
		case v.Fired:
			now = "firing (sent this hour)"
		default:
			now = fmt.Sprintf("pending %d/%d runs", v.Holds, confirm)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", human.Visible(v.Host), human.Visible(v.Symptom), now, human.Visible(v.Detail))
	}
	if len(res.Alerts) == 0 && len(vs) == 0 {
		fmt.Fprintf(tw, "-\t-\thealthy\tno symptom in %d hosts\n", res.Hosts)
	}
	return tw.Flush()
}
