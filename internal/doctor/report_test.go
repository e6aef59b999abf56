package doctor

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/hosthealth"
)

// TestReportReadByReceiver: what the receiver's readers (the detector,
// the dashboard) take from a snapshot is what the doctor wrote; a renamed
// JSON field on either side fails here, not silently on a dashboard.
func TestReportReadByReceiver(t *testing.T) {
	off := -1.5
	rep := Report{Schema: 1, Host: "lab-1", Version: "0.4.0", Commit: "3333333333333333333333333333333333333333",
		At: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC), OK: false, Summary: "1 of 2 checks failed: tls",
		Checks: []Check{
			{Name: "tls", Status: Fail, Finding: "the certificate expired", Fix: "run cis490 cert-fetch", TookMS: 2},
			{Name: "disk", Status: OK, Finding: "12 GiB free"},
		},
		Facts: Facts{Kernel: "6.1.0-28-amd64", ClockOffsetS: &off, DiskFree: 12 << 30},
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	got, err := hosthealth.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &hosthealth.Report{Host: rep.Host, Version: rep.Version, Commit: rep.Commit, At: rep.At, OK: false, Summary: rep.Summary,
		Checks: []hosthealth.Check{
			{Name: "tls", Status: "fail", Finding: "the certificate expired", Fix: "run cis490 cert-fetch"},
			{Name: "disk", Status: "ok", Finding: "12 GiB free"},
		}}
	want.Facts.Kernel, want.Facts.ClockOffsetS, want.Facts.DiskFree = "6.1.0-28-amd64", &off, 12<<30
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the receiver reads\n%+v\nof the doctor's\n%+v", got, want)
	}
}
