package receiver

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/store"
)

// TestHostRate: a host past its burst gets 429 with Retry-After (reason
// rate), each held back a while so a closed-loop flood runs slowly, its
// refusals cost one index line each minute after the first, and other
// hosts are not slowed.
func TestHostRate(t *testing.T) {
	// A clock held inside one minute: the refusals must not straddle two.
	at := time.Now().Truncate(time.Minute).Add(time.Minute + 5*time.Second)
	f := newFixture(t, fixtureOpts{server: Options{HostRate: 0.1, HostBurst: 5, Now: func() time.Time { return at }}})
	f.srv.rates.holdMost = 50 * time.Millisecond
	lab1, lab2 := f.host("lab-1"), f.host("lab-2")
	beat := func(c cred, host string) reply {
		return f.do(c, "PUT", "/v1/heartbeat/"+host, `{"state":"up"}`, nil)
	}
	for i := range 5 {
		if r := beat(lab1, "lab-1"); r.status != http.StatusOK {
			t.Fatalf("heartbeat %d within the burst = %d %s", i, r.status, r.body)
		}
	}
	before := len(f.indexLines())
	start := time.Now()
	for i := range 20 {
		r := beat(lab1, "lab-1")
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Fatalf("heartbeat %d past the burst = %d %v %s; want 429 with Retry-After", i, r.status, r.header, r.body)
		}
	}
	if held := time.Since(start); held < 20*50*time.Millisecond {
		t.Fatalf("20 refusals answered in %s; want each held 50 ms", held)
	}
	if r := beat(lab2, "lab-2"); r.status != http.StatusOK {
		t.Fatalf("another host's heartbeat = %d %s; want 200", r.status, r.body)
	}
	lines := f.indexLines()[before:]
	if len(lines) != 2 || lines[0].Reason != "rate" || lines[1].Host != "lab-2" {
		t.Fatalf("index lines for 20 refusals in a minute and lab-2's heartbeat: %+v; want one rate line, then lab-2's", lines)
	}
	f.srv.writeRefusals(at.Add(2*time.Minute), false)
	lines = f.indexLines()
	if last := lines[len(lines)-1]; last.Reason != "rate" || last.Count != 19 || last.CertHost != "lab-1" {
		t.Fatalf("the minute's summary line %+v; want 19 rate refusals of lab-1", last)
	}
}

// TestStreamCapAnswers: a host past quota.host_streams is told so with a
// 429 and a sentence, and its existing streams take appends.
func TestStreamCapAnswers(t *testing.T) {
	f := newFixture(t, fixtureOpts{store: store.Options{HostStreams: 2}})
	lab1 := f.host("lab-1")
	for _, s := range []string{"a", "b"} {
		if r := f.do(lab1, "PUT", "/v1/logs/lab-1/"+s+"?offset=0", "x", nil); r.status != http.StatusCreated {
			t.Fatalf("stream %s = %d %s", s, r.status, r.body)
		}
	}
	r := f.do(lab1, "PUT", "/v1/logs/lab-1/c?offset=0", "x", nil)
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "quota.host_streams") || !strings.Contains(r.body, `"reason":"streams"`) {
		t.Fatalf("a third stream = %d %s; want 429 streams naming quota.host_streams", r.status, r.body)
	}
	if r := f.do(lab1, "PUT", "/v1/logs/lab-1/a?offset=1", "y", nil); r.status != http.StatusCreated {
		t.Fatalf("an existing stream = %d %s; want 201", r.status, r.body)
	}
}
