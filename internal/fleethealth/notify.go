package fleethealth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/human"
)

// SyslogTag is the tag of the detector's syslog messages.
const SyslogTag = "cis490-fleet-health"

// Text is an alert as one line for people: syslog, ntfy, Slack, a
// terminal. It has no control character, so a host's text cannot forge a
// second syslog line or drive a terminal.
// A silenced alert says so: syslog still gets it, marked.
func (a Alert) Text() string {
	t := fmt.Sprintf("%s %s: %s", a.who(), a.Symptom, a.Detail)
	if a.Silenced != "" {
		t += " (silenced " + a.Silenced + ")"
	}
	return human.Visible(t)
}

// who names the alert's host, or the fleet.
func (a Alert) who() string {
	if a.Host == FleetHost {
		return "fleet"
	}
	return a.Host
}

// visible is a with every field shown as human.Visible shows it: the
// detector cleans the details it writes, but an alert that waited in the
// outbox, or a detail kept in the state, may predate that.
func (a Alert) visible() Alert {
	a.Host, a.Symptom, a.Detail, a.Resolves = human.Visible(a.Host), human.Visible(a.Symptom), human.Visible(a.Detail), human.Visible(a.Resolves)
	return a
}

// slackEscape escapes the three characters Slack's mrkdwn reads as markup,
// as Slack asks: with & < > escaped no text can become a mention
// (<!channel>, <!here>, <@U123>) or a link with a label of its own
// (<https://…|click>).
func slackEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// openSyslog connects to the syslog the config names; nil when it is off.
func openSyslog(spec string) (*syslog.Writer, error) {
	prio := syslog.LOG_WARNING | syslog.LOG_DAEMON
	switch spec {
	case "off":
		return nil, nil
	case "", "local":
		return syslog.New(prio, SyslogTag)
	}
	network, addr, _ := strings.Cut(spec, ":")
	return syslog.Dial(network, addr, prio, SyslogTag)
}

// Outgoing is an alert a notifier has not yet taken.
type Outgoing struct {
	URL   string `json:"url"` // the notifier, by its URL
	Kind  string `json:"kind"`
	Alert Alert  `json:"alert"`
}

// maxOutbox bounds the alerts kept for a notifier that keeps failing.
const maxOutbox = 1000

// deliver sends one alert to one notifier.
func deliver(ctx context.Context, hc *http.Client, o Outgoing) error {
	var body []byte
	var err error
	ctype := "application/json"
	hdr := http.Header{}
	a := o.Alert.visible()
	switch o.Kind {
	case "webhook":
		body, err = jsonMarshal(a)
	case "slack":
		// No previews: a link a host put in a detail is not fetched by
		// Slack nor shown as a card.
		body, err = jsonMarshal(map[string]any{"text": slackEscape("cis490: " + a.Text()), "unfurl_links": false, "unfurl_media": false})
	case "ntfy":
		// Plain text (no Markdown header), valid UTF-8 (else ntfy makes
		// it an attachment), and a Title with no CR, LF or control byte.
		ctype = "text/plain; charset=utf-8"
		body = []byte(a.Detail)
		hdr.Set("Title", fmt.Sprintf("cis490: %s %s", a.who(), a.Symptom))
		switch a.Symptom {
		case Resolved:
			hdr.Set("Tags", "white_check_mark")
		case ReceiverFault, FleetSilent:
			hdr.Set("Tags", "rotating_light")
			hdr.Set("Priority", "high")
		default:
			hdr.Set("Tags", "warning")
		}
	default:
		return fmt.Errorf("unknown notifier kind %q", o.Kind)
	}
	if err != nil {
		return err
	}
	hdr.Set("Content-Type", ctype)
	return call(ctx, hc, http.MethodPost, o.URL, body, hdr, "the notifier")
}

// call makes one request to a notifier or a ping URL, within 10 s; any
// answer but a 2xx is an error naming who gave it.
func call(ctx context.Context, hc *http.Client, method, target string, body []byte, hdr http.Header, who string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if hdr != nil {
		req.Header = hdr
	}
	req.Header.Set("User-Agent", "cis490-fleet-health")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", who, resp.Status)
	}
	return nil
}

// queue adds each alert to the outbox of every notifier, dropping the
// oldest beyond maxOutbox per notifier, and what waits for a notifier no
// longer configured.
func queue(outbox []Outgoing, notifiers []config.Notifier, alerts []Alert) (out []Outgoing, dropped int) {
	configured := map[string]bool{}
	for _, n := range notifiers {
		configured[n.Kind+" "+n.URL] = true
	}
	for _, o := range outbox {
		if configured[o.Kind+" "+o.URL] {
			out = append(out, o)
		}
	}
	for _, n := range notifiers {
		for _, a := range alerts {
			out = append(out, Outgoing{URL: n.URL, Kind: n.Kind, Alert: a})
		}
	}
	count := map[string]int{}
	for _, o := range out {
		count[o.URL]++
	}
	kept := out[:0]
	for _, o := range out {
		if count[o.URL] > maxOutbox {
			count[o.URL]--
			dropped++
			continue
		}
		kept = append(kept, o)
	}
	return kept, dropped
}

// redact keeps a URL's scheme and host: notifier and ping URLs carry their
// secret in the path or query.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(a URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// errStatus describes a delivery error without the URL it names.
func errStatus(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// ping fetches the dead man's switch URL.
func ping(ctx context.Context, hc *http.Client, target string) error {
	return call(ctx, hc, http.MethodGet, target, nil, nil, "the dead man's switch")
}
