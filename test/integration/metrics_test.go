package integration

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetrics: the real receiver's /metrics, scraped from this machine
// and parsed with Prometheus's own text parser, counts what the hosts did:
// requests by endpoint and status class, the bytes stored, the
// group-commit rounds; the detector's view is there once it has run.
func TestMetrics(t *testing.T) {
	began := time.Now().Add(-time.Second) // the metric has whole seconds
	f := newFleet(t, []string{"lab-1", "lab-2"}, true)
	f.rcv.Start()
	stored := 0
	for i, h := range []string{"lab-1", "lab-2"} {
		body := strings.Repeat("a line\n", 10*(i+1))
		if r := f.hosts[h].do(http.MethodPut, h, "syslog", "offset=0", strings.NewReader(body), int64(len(body))); r.status != 201 {
			t.Fatalf("%s: %d %s", h, r.status, r.body)
		}
		stored += len(body)
	}
	// A duplicate (200) stores nothing; a host writing as another, 403.
	body := strings.Repeat("a line\n", 10)
	if r := f.hosts["lab-1"].do(http.MethodPut, "lab-1", "syslog", "offset=0", strings.NewReader(body), int64(len(body))); r.status != 200 {
		t.Fatalf("the duplicate: %d %s", r.status, r.body)
	}
	// A retry that overlaps stored bytes and adds a new line (201) counts
	// only the new line.
	retry := strings.Repeat("a line\n", 5) + "new\n"
	if r := f.hosts["lab-1"].do(http.MethodPut, "lab-1", "syslog", "offset=35", strings.NewReader(retry), int64(len(retry))); r.status != 201 {
		t.Fatalf("the overlapping retry: %d %s", r.status, r.body)
	}
	stored += len("new\n")
	if r := f.hosts["lab-1"].do(http.MethodPut, "lab-2", "syslog", "offset=0", strings.NewReader("x\n"), 2); r.status != 403 {
		t.Fatalf("writing as another host: %d", r.status)
	}
	runCLI(t, "fleet-health", "--config", f.rcv.cfgPath)

	fams := scrape(t, f.rcv)
	if got := counter(fams, "cis490_requests_total", map[string]string{"endpoint": "logs", "code": "2xx"}); got != 4 {
		t.Errorf("logs 2xx = %v; want 4", got)
	}
	if got := counter(fams, "cis490_requests_total", map[string]string{"endpoint": "logs", "code": "4xx"}); got != 1 {
		t.Errorf("logs 4xx = %v; want 1", got)
	}
	if got := counter(fams, "cis490_ingested_bytes_total", nil); got != float64(stored) {
		t.Errorf("ingested %v bytes; want %d (the duplicate stores nothing, the overlapping retry its new line)", got, stored)
	}
	if h := fams["cis490_fsync_duration_seconds"]; h == nil || h.Metric[0].GetHistogram().GetSampleCount() == 0 {
		t.Errorf("no fsync rounds observed: %v", h)
	}
	if h := fams["cis490_group_commit_wait_seconds"]; h == nil || h.Metric[0].GetHistogram().GetSampleCount() == 0 {
		t.Errorf("no group-commit waits observed: %v", h)
	}
	if fams["cis490_index_lag_seconds"] == nil || fams["go_goroutines"] == nil || fams["process_resident_memory_bytes"] == nil {
		t.Error("the index lag, Go or process metrics are missing")
	}
	if got := gauge(fams, "cis490_hosts", map[string]string{"state": "ok"}); got != 2 {
		t.Errorf("hosts ok = %v; want 2", got)
	}
	if got := gauge(fams, "cis490_detector_last_success_timestamp_seconds", nil); got < float64(began.Unix()) {
		t.Errorf("the detector's last run is %v, before this test began (%d), after it ran", got, began.Unix())
	}
}

func scrape(t *testing.T, r *receiverProc) map[string]*dto.MetricFamily {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.pool}}}
	resp, err := hc.Get(r.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics from loopback without credentials: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the metrics do not parse: %v", err)
	}
	return fams
}

func find(fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	fam := fams[name]
	if fam == nil {
		return nil
	}
next:
	for _, m := range fam.Metric {
		for k, v := range labels {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

func counter(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	if m := find(fams, name, labels); m != nil {
		return m.GetCounter().GetValue()
	}
	return -1
}

func gauge(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	if m := find(fams, name, labels); m != nil {
		return m.GetGauge().GetValue()
	}
	return -1
}
