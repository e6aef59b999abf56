package doctor

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/wire"
)

func checkClock(_ context.Context, e *env) Check {
	if e.resp == nil {
		return skip("no answer from the receiver")
	}
	d, err := http.ParseTime(e.resp.Header.Get("Date"))
	if err != nil {
		return skip("the receiver sent no Date")
	}
	// Date has whole seconds: the receiver's clock read D <= T < D+1s
	// when our clock read about mid, so our offset lies in (x-1s, x]
	// with x = mid - D. Report the bound nearest zero: never more skew
	// than there surely is.
	x := e.sent.Add(e.rtt / 2).Sub(d)
	var skew, signed time.Duration
	switch {
	case x < 0:
		skew, signed = -x, x
	case x > time.Second:
		skew, signed = x-time.Second, x-time.Second
	}
	e.fact(func(f *Facts) { s := signed.Seconds(); f.ClockOffsetS = &s })
	switch {
	case skew > 5*time.Minute:
		return Check{Status: Fail, Finding: fmt.Sprintf("this host's clock is %s off the receiver's", skew.Round(time.Second)),
			Fix: "enable time sync (timedatectl set-ntp true); certificates and the fleet's alerts depend on it"}
	case skew > 30*time.Second:
		return Check{Status: Warn, Finding: fmt.Sprintf("this host's clock is %s off the receiver's", skew.Round(time.Second)), Fix: "enable time sync (timedatectl set-ntp true)"}
	}
	return Check{Finding: "within a second or so of the receiver's clock"}
}

// unanswered says why the receiver told this host nothing of itself (the
// skip of a check that reads what only an accepted host is told); "" when
// it did.
func unanswered(e *env) string {
	switch {
	case e.resp == nil:
		return "no answer from the receiver"
	case e.resp.Status == http.StatusUnauthorized || e.resp.Status == http.StatusForbidden:
		return "the receiver did not accept this host (see receiver-auth), so it said nothing of it"
	case e.resp.Status != http.StatusOK:
		return fmt.Sprintf("the receiver answered %d, so it said nothing of this host", e.resp.Status)
	}
	return ""
}

func checkCode(_ context.Context, e *env) Check {
	if why := unanswered(e); why != "" {
		return skip(why)
	}
	accepted := e.resp.Header.Get(wire.HeaderAccepted)
	switch e.resp.Header.Get(wire.HeaderGate) {
	case wire.GateStale:
		return Check{Status: Fail, Finding: fmt.Sprintf("this host runs %s, a release the receiver no longer accepts (it accepts %s): its logs wait here", human.Commit(e.commit), accepted),
			Fix: "run cis490 autoupdate, and check cis490-autoupdate.timer: it should have done this"}
	case wire.GateUnstamped:
		return Check{Status: Warn, Finding: "this build carries no code commit, so nobody can tell which code it runs", Fix: "install a release build (cis490 autoupdate)"}
	case wire.GateUnknown:
		return Check{Finding: "commit " + human.Commit(e.commit) + " is not a release the receiver knows (a dev build): accepted"}
	case wire.GatePass:
		return Check{Finding: "commit " + human.Commit(e.commit) + " is accepted by the receiver's version gate"}
	}
	return skip("the receiver does not say what its gate makes of this code (an older receiver)")
}

func checkInstance(_ context.Context, e *env) Check {
	if why := unanswered(e); why != "" {
		return skip(why)
	}
	others := func(header string) []string {
		var out []string
		for _, id := range strings.Split(e.resp.Header.Get(header), ",") {
			if id != "" && id != e.instance {
				out = append(out, id)
			}
		}
		return out
	}
	if now := others(wire.HeaderInstancesRecent); len(now) > 0 {
		return Check{Status: Fail, Finding: fmt.Sprintf("another installation (%s) is speaking as %s right now; this one is %s", strings.Join(now, ", "), e.cfg.Host, e.instance),
			Fix: "a cloned image: give each machine its own machine id (systemd-machine-id-setup) and its own host bundle"}
	}
	if day := others(wire.HeaderInstances); len(day) > 0 {
		return Check{Status: Warn, Finding: fmt.Sprintf("another installation (%s) spoke as %s in the last day, but not lately: a reinstall, or a clone that is off; this one is %s", strings.Join(day, ", "), e.cfg.Host, e.instance),
			Fix: "if this machine was not reinstalled, look for a clone of it"}
	}
	return Check{Finding: "instance " + e.instance + " is the only one speaking as " + e.cfg.Host}
}
