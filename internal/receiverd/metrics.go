package receiverd

import (
	"context"
	"time"

	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/metrics"
)

// newMetrics wires the metrics to the backend's commits and the detector's
// view.
func newMetrics(view func(context.Context, time.Time) (*fleethealth.View, error), b backend) *metrics.Metrics {
	m := metrics.New(metrics.Options{
		Pending: b.pending,
		Fleet: func(ctx context.Context, now time.Time) (metrics.Fleet, error) {
			v, err := view(ctx, now)
			if err != nil {
				return metrics.Fleet{}, err
			}
			f := metrics.Fleet{Hosts: map[string]int{}, Active: map[string]int{}, DetectorRan: v.DetectorRan}
			// Active: confirmed and alerted (one waiting for its second run
			// is not yet an alert). A held one that fired before (explained
			// now by a fleet symptom, quiet hours, or its host being off)
			// is still an alert nobody resolved: counted, as Prometheus
			// counts an inhibited alert as firing.
			for _, s := range v.Fleet {
				if s.Firing {
					f.Active[s.Symptom]++
				}
			}
			for _, h := range v.Hosts {
				f.Hosts[h.State]++
				for _, s := range h.Symptoms {
					if s.Firing {
						f.Active[s.Symptom]++
					}
				}
			}
			return f, nil
		},
	})
	b.observe(m.Round)
	return m
}
