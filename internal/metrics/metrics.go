// Package metrics is the receiver's Prometheus metrics: what it answered,
// what it stored, how long durability took, and the fleet as the detector
// sees it. Its own registry (nothing global), served by Handler.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cis490/cis490/internal/groupsync"
)

// Fleet is the detector's view, reduced to what the metrics show.
type Fleet struct {
	Hosts       map[string]int // by state: sick, silent, off, ok
	Active      map[string]int // active symptoms, by symptom
	DetectorRan time.Time      // the detector's last successful run
}

// Options wire the metrics to the receiver.
type Options struct {
	// Fleet builds the fleet view (nil: no fleet metrics). A scrape calls
	// it at most every FleetEvery (default 30 s); it reads the index.
	Fleet      func(ctx context.Context, now time.Time) (Fleet, error)
	FleetEvery time.Duration
	// Pending reports how long the oldest request line not yet durable has
	// waited (the index's lag behind the requests it records).
	Pending func(now time.Time) time.Duration
	Now     func() time.Time
}

// Metrics holds the receiver's metrics.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	ingested prometheus.Counter
	fsync    prometheus.Histogram
	waited   prometheus.Histogram
}

// New makes the metrics and their registry.
func New(opt Options) *Metrics {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.FleetEvery <= 0 {
		opt.FleetEvery = 30 * time.Second
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cis490_requests_total", Help: "Requests answered, by endpoint and status class.",
		}, []string{"endpoint", "code"}),
		ingested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cis490_ingested_bytes_total", Help: "Log bytes stored (bodies answered 201).",
		}),
		// Buckets from a fast SSD's fsync (~100 µs) to an SD card's (~1 s).
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cis490_fsync_duration_seconds", Help: "One group-commit round's fsyncs (all files, in parallel).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
		waited: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cis490_group_commit_wait_seconds", Help: "How long the oldest write of each round waited to be durable.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
	}
	m.reg.MustRegister(m.requests, m.ingested, m.fsync, m.waited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opt.Pending != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cis490_index_lag_seconds", Help: "How long the oldest request line not yet on disk has waited (0: the index is caught up).",
		}, func() float64 { return opt.Pending(opt.Now()).Seconds() }))
	}
	if opt.Fleet != nil {
		m.reg.MustRegister(&fleetCollector{opt: opt})
	}
	return m
}

// Request counts one answered request; stored is the log bytes it stored.
func (m *Metrics) Request(endpoint string, status int, stored int64) {
	if endpoint == "" {
		endpoint = "other"
	}
	m.requests.WithLabelValues(endpoint, strconv.Itoa(status/100)+"xx").Inc()
	if stored > 0 {
		m.ingested.Add(float64(stored))
	}
}

// Round records a group-commit round (groupsync.Group.Observe).
func (m *Metrics) Round(r groupsync.Round) {
	m.fsync.Observe(r.Sync.Seconds())
	m.waited.Observe(r.Oldest.Seconds())
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	hostsDesc = prometheus.NewDesc("cis490_hosts", "Hosts by state, as the detector sees them (sick, silent, off, ok).", []string{"state"}, nil)
	alertDesc = prometheus.NewDesc("cis490_active_symptoms", "Active symptoms (alerts), by symptom.", []string{"symptom"}, nil)
	ranDesc   = prometheus.NewDesc("cis490_detector_last_success_timestamp_seconds", "When fleet-health last ran to the end.", nil, nil)
)

// fleetCollector builds the fleet view at scrape time, at most every
// FleetEvery: a scrape every 15 s must not read the index each time.
type fleetCollector struct {
	opt   Options
	mu    sync.Mutex
	at    time.Time // when last was built
	tried time.Time // when a build was last tried, failed or not
	last  Fleet
	ok    bool
}

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- hostsDesc
	ch <- alertDesc
	ch <- ranDesc
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	now := c.opt.Now()
	// At most one build per FleetEvery, failed ones included: a view that
	// cannot be built (a struggling receiver) is not retried every scrape.
	if c.tried.IsZero() || now.Sub(c.tried) >= c.opt.FleetEvery {
		c.tried = now
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		f, err := c.opt.Fleet(ctx, now)
		cancel()
		if err == nil {
			c.last, c.at, c.ok = f, now, true
		}
	}
	f, ok := c.last, c.ok && now.Sub(c.at) < 3*c.opt.FleetEvery
	c.mu.Unlock()
	if !ok {
		return // no view, or only an old one: absent, not zero or stale
	}
	for _, state := range []string{"sick", "silent", "off", "ok"} {
		ch <- prometheus.MustNewConstMetric(hostsDesc, prometheus.GaugeValue, float64(f.Hosts[state]), state)
	}
	for sym, n := range f.Active {
		ch <- prometheus.MustNewConstMetric(alertDesc, prometheus.GaugeValue, float64(n), sym)
	}
	if !f.DetectorRan.IsZero() {
		ch <- prometheus.MustNewConstMetric(ranDesc, prometheus.GaugeValue, float64(f.DetectorRan.UnixNano())/1e9)
	}
}
