package config

import (
	"strings"
	"testing"
	"time"
)

func TestFleetHealthValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(f *FleetHealth)
		want string
	}{
		{"silent not shorter than window", func(f *FleetHealth) { f.SilentAfter = Duration(25 * time.Hour) },
			`fleet_health.silent_after: 25h is not shorter than fleet_health.window (1d)`},
		{"zero confirm", func(f *FleetHealth) { f.ConfirmRuns = 0 }, "fleet_health.confirm_runs: 0: write 1"},
		{"share above one", func(f *FleetHealth) { f.FleetShare = 1.5 }, "fleet_health.fleet_share: 1.5 is not a share"},
		{"syslog", func(f *FleetHealth) { f.Syslog = "loghost" }, `fleet_health.syslog: "loghost": write "local", "off"`},
		{"deadman", func(f *FleetHealth) { f.DeadmanURL = "hc-ping.com/x" }, `fleet_health.deadman_url: "hc-ping.com/x" is not an http(s) URL`},
		{"notify kind", func(f *FleetHealth) { f.Notify = []Notifier{{Kind: "email", URL: "https://x"}} },
			`fleet_health.notify[0].kind: "email": write "webhook"`},
		{"quiet from", func(f *FleetHealth) {
			f.QuietHours = []QuietHours{{Hosts: []string{"lab-*"}, From: "7pm", To: "07:00"}}
		}, `fleet_health.quiet_hours[0].from: "7pm" is not a time of day; write "HH:MM"`},
		{"quiet empty", func(f *FleetHealth) {
			f.QuietHours = []QuietHours{{Hosts: []string{"lab-*"}, From: "07:00", To: "07:00"}}
		}, `fleet_health.quiet_hours[0].to: is the same as from (07:00), an empty period`},
		{"quiet day", func(f *FleetHealth) {
			f.QuietHours = []QuietHours{{Hosts: []string{"lab-*"}, Days: []string{"someday"}, From: "00:00", To: "24:00"}}
		}, `fleet_health.quiet_hours[0].days: "someday" is not a day`},
		{"quiet pattern", func(f *FleetHealth) {
			f.QuietHours = []QuietHours{{Hosts: []string{"lab-["}, From: "00:00", To: "24:00"}}
		}, `fleet_health.quiet_hours[0].hosts: "lab-[" is not a pattern`},
		{"quiet zone", func(f *FleetHealth) {
			f.QuietHours = []QuietHours{{Hosts: []string{"lab-*"}, From: "00:00", To: "24:00", TimeZone: "Mars/Olympus"}}
		}, `fleet_health.quiet_hours[0].timezone: "Mars/Olympus" is not a known time zone`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := DefaultReceiver()
			r.Resolve("/etc/cis490")
			tt.edit(&r.FleetHealth)
			err := r.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v\nwant an error containing %q", err, tt.want)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("one mistake gave %d errors:\n%v", n, err)
			}
		})
	}
}

func TestQuietHoursDays(t *testing.T) {
	q := QuietHours{Days: []string{"weekend", "Mon"}}
	got := q.Weekdays()
	if len(got) != 3 || !got[time.Saturday] || !got[time.Sunday] || !got[time.Monday] {
		t.Fatalf("weekend+Mon = %v", got)
	}
	if len((QuietHours{}).Weekdays()) != 7 {
		t.Fatal("no days should mean daily")
	}
	for s, want := range map[string]int{"00:00": 0, "07:30": 450, "24:00": 1440, "24:01": -1, "7:00": -1, "12:60": -1} {
		m, ok := Clock(s)
		if (want < 0) == ok || (ok && m != want) {
			t.Errorf("Clock(%q) = %d, %v; want %d", s, m, ok, want)
		}
	}
}
