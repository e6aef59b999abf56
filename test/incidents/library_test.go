package incidents

import (
	"time"

	"github.com/cis490/cis490/internal/index"
)

// at is h:m on Thursday 2026-11-26, UTC (h of 24 and more run into the
// next days).
func at(h, m int) time.Time { return time.Date(2026, 11, 26, h, m, 0, 0, time.UTC) }

// quietFix is what a quiet host's detail must tell its admin to do.
var quietFix = []string{"`cis490 doctor` on it", "`journalctl -u cis490-shipper`"}

// library is every replayed incident.
func library() []incident {
	return []incident{
		receiverDeploy500(), receiverDown(), shutdownAndSleep(), hostCrash(), roomPowerCut(),
		clonedImage(), staleCode(), certExpired(), framedHost(), tornLine(), healthyNoise(),
		overQuota(), diskFull(), sleepThenLastBatch(), lostToRotation(),
		longPartition(), receiverOverload(), briefOverload(),
	}
}

func receiverDeploy500() incident {
	start, back := at(10, 5), at(10, 25)
	return incident{
		name:  "receiver-500-deploy",
		what:  "a bad receiver deploy answered 500 to every request for 20 minutes until it was rolled back",
		start: start, from: at(9, 30), to: at(11, 30),
		index: func(g *gen) {
			for _, h := range fleet(10) {
				g.ship(h, at(8, 0), start)
				// Retrying with capped backoff, busy: no heartbeats.
				g.puts(h, start, back, 30*time.Second, func(l *index.Line) { l.Status, l.Reason = 500, "panic" })
				g.puts(h, back, back.Add(5*time.Minute), 10*time.Second, nil) // the backlog
				g.ship(h, back.Add(5*time.Minute), at(11, 30))
			}
		},
		detects: "receiver-fault",
		want: []want{
			{line: "* receiver-fault", has: []string{"10 of 10 hosts", "5xx", "journalctl -u cis490-receiver"}, at: "10:15"},
			// Rolled back at 10:25: no 5xx for two runs by 10:40.
			{line: "* resolved receiver-fault", at: "10:40"},
		},
	}
}

func receiverDown() incident {
	down, up := at(10, 0), at(11, 10)
	return incident{
		name:  "receiver-down",
		what:  "the receiver was down for 70 minutes and the hosts caught up when it came back",
		start: down, from: at(9, 30), to: at(12, 30),
		index: func(g *gen) {
			for _, h := range fleet(10) {
				g.ship(h, at(8, 0), down)
				g.puts(h, up, up.Add(5*time.Minute), 10*time.Second, nil)
				g.ship(h, up.Add(5*time.Minute), at(12, 30))
			}
		},
		detects: "fleet-silent",
		want: []want{
			{line: "* fleet-silent", has: []string{"10 of 10 hosts", "went silent together", "not the hosts", "reachable"}},
			{line: "* fleet-silent"},
			{line: "* resolved fleet-silent"},
		},
	}
}

func shutdownAndSleep() incident {
	return incident{
		name:  "shutdown-and-sleep",
		what:  "one host shut down cleanly and booted two hours later, another went to sleep for the day",
		start: at(10, 0), from: at(9, 30), to: at(13, 0),
		index: func(g *gen) {
			for _, h := range fleet(8) {
				switch h {
				case "lab-03":
					g.ship(h, at(8, 0), at(10, 0))
					g.beat(h, at(10, 0).Add(12*time.Second), "shutdown")
					g.ship(h, at(12, 0), at(13, 0))
				case "lab-06":
					g.ship(h, at(8, 0), at(10, 20))
					g.beat(h, at(10, 20).Add(40*time.Second), "sleep")
				default:
					g.ship(h, at(8, 0), at(13, 0))
				}
			}
		},
	}
}

func hostCrash() incident {
	crash := at(10, 0)
	return incident{
		name:  "host-crash",
		what:  "a host crashed without a word, stayed dead past the (3 h) window and was reinstalled later",
		start: crash, from: at(9, 30), to: at(13, 30),
		fleetHealth: `window = "3h"`,
		index: func(g *gen) {
			for _, h := range fleet(8) {
				if h == "lab-05" {
					g.ship(h, at(8, 0), crash)
					g.ship(h, at(13, 10), at(13, 30))
					continue
				}
				g.ship(h, at(8, 0), at(13, 30))
			}
		},
		detects: "silent",
		want: append([]want{{line: "lab-05 silent", has: append([]string{"last seen 2026-11-26T09:59:35Z",
			"its last request, at 09:59Z, was a log PUT answered 201", "its last heartbeat, at 09:58Z, said up", "check its power and network"}, quietFix...),
			not: []string{"went quiet within"}}},
			want{line: "lab-05 silent"}, want{line: "lab-05 silent"},
			want{line: "lab-05 gone", has: append([]string{"not seen since 2026-11-26T09:59:35Z", "a log PUT answered 201"}, quietFix...)}),
	}
}

func roomPowerCut() incident {
	cut, back := at(10, 0), at(10, 50)
	quiet := []string{"went quiet within 2m of it", "check the power and network it shares with them"}
	return incident{
		name:  "room-power-cut",
		what:  "a room of 3 of the 12 hosts lost power for 50 minutes",
		start: cut, from: at(9, 30), to: at(11, 30),
		index: func(g *gen) {
			for _, h := range fleet(12) {
				switch h {
				case "lab-01", "lab-02", "lab-03":
					g.ship(h, at(8, 0), cut)
					g.ship(h, back, at(11, 30))
				default:
					g.ship(h, at(8, 0), at(11, 30))
				}
			}
		},
		detects: "silent",
		want: []want{
			{line: "lab-01 silent", has: append([]string{"lab-02, lab-03 went quiet"}, append(quiet, quietFix...)...)},
			{line: "lab-02 silent", has: append([]string{"lab-01, lab-03 went quiet"}, append(quiet, quietFix...)...)},
			{line: "lab-03 silent", has: append([]string{"lab-01, lab-02 went quiet"}, append(quiet, quietFix...)...)},
			{line: "lab-01 resolved silent"}, {line: "lab-02 resolved silent"}, {line: "lab-03 resolved silent"},
		},
	}
}

func clonedImage() incident {
	clone, renamed := at(10, 0), at(10, 20)
	return incident{
		name:  "cloned-image",
		what:  "a machine booted from lab-04's disk image shipped as lab-04 for 20 minutes until it got its own name",
		start: clone, from: at(9, 30), to: at(11, 30),
		index: func(g *gen) {
			for _, h := range fleet(6) {
				g.ship(h, at(8, 0), at(11, 30))
			}
			twin := func(l *index.Line) { l.Instance, l.TS = "c10ed0000c10ed00", l.TS.Add(30*time.Second) }
			g.puts("lab-04", clone, renamed, time.Minute, twin)
			g.beats("lab-04", clone, renamed, twin)
			g.ship("lab-07", renamed.Add(2*time.Minute), at(11, 30))
		},
		detects: "duplicate-identity",
		want: []want{
			{line: "lab-04 duplicate-identity", has: []string{"2 installations ship as this host", "cloned image", "systemd-machine-id-setup"}},
			{line: "lab-04 resolved duplicate-identity"},
		},
	}
}

func staleCode() incident {
	gate, fixed := at(10, 0), at(10, 55)
	return incident{
		name:  "stale-code",
		what:  "the gate moved to a new release; every host autoupdated but lab-02, whose autoupdate was broken until fixed by hand",
		start: gate, from: at(9, 30), to: at(11, 30),
		index: func(g *gen) {
			stale := func(l *index.Line) { l.Status, l.Reason, l.Gate = 426, "stale-code", "stale" }
			newer := func(l *index.Line) { l.Commit = commitB }
			for i, h := range fleet(6) {
				g.ship(h, at(8, 0), gate)
				upd := gate.Add(time.Duration(4+2*i) * time.Minute) // its autoupdate timer
				if h == "lab-02" {
					upd = fixed
				}
				// Refused, its logs wait; it asks again every 5 minutes.
				g.puts(h, gate, upd, 5*time.Minute, stale)
				g.beats(h, gate, upd, nil)
				g.puts(h, upd, at(11, 30), time.Minute, newer)
				g.beats(h, upd, at(11, 30), newer)
			}
		},
		detects: "stale-code",
		want: []want{
			{line: "lab-02 stale-code", has: []string{"refused by the version gate", "runs aaaaaaaaaaaa", "autoupdate is broken", "cis490 autoupdate"}},
			{line: "lab-02 resolved stale-code"},
		},
	}
}

func certExpired() incident {
	expiry := at(10, 0)
	return incident{
		name:  "cert-expired",
		what:  "lab-05's cert-fetch timer was broken, so its certificate neared its end and expired at 10:00",
		start: expiry, from: at(9, 0), to: at(11, 30),
		index: func(g *gen) {
			for _, h := range fleet(6) {
				if h != "lab-05" {
					g.ship(h, at(8, 0), at(11, 30))
					continue
				}
				ends := func(l *index.Line) { l.CertExpires = expiry.Format(time.RFC3339) }
				g.puts(h, at(8, 0), expiry, time.Minute, ends)
				g.beats(h, at(8, 0), expiry, ends)
				refused := func(l *index.Line) {
					ends(l)
					l.Status, l.Reason, l.Auth = 401, "cert-expired", false
				}
				g.puts(h, expiry, at(11, 30), 2*time.Minute, refused)
				g.beats(h, expiry, at(11, 30), refused)
			}
		},
		detects: "cert-expired",
		want: []want{
			{line: "lab-05 cert-expiring", has: []string{"expires at 2026-11-26T10:00:00Z", "cis490 cert-fetch", "cis490-cert-fetch.timer"}},
			{line: "lab-05 cert-expired", has: []string{"expired at 2026-11-26T10:00:00Z", "cis490 cert-fetch", "cis490 enroll"}},
			{line: "lab-05 cert-expired"},
		},
	}
}

func framedHost() incident {
	return incident{
		name:  "framed-host",
		what:  "for an hour callers without lab-02's certificate sent requests naming lab-02, and lab-06 sent some with its own",
		start: at(10, 0), from: at(9, 30), to: at(11, 30),
		index: func(g *gen) {
			for _, h := range fleet(6) {
				g.ship(h, at(8, 0), at(11, 30))
			}
			for m := range 60 {
				ts := at(10, m).Add(17 * time.Second)
				for _, r := range []struct {
					reason string
					count  int
				}{{"no-cert", 12}, {"cert-unknown-ca", 6}, {"bad-token", 3}} {
					l := g.req("lab-02", ts, "logs", 401, r.reason)
					l.CertHost, l.Count, l.Commit, l.Instance, l.Remote = "", r.count, "", "", "203.0.113.9:51515"
					g.add(l)
				}
				if m%10 == 0 { // lab-06's certificate, lab-02's name
					l := g.req("lab-06", ts.Add(time.Second), "logs", 403, "host-mismatch")
					l.Host, l.Auth = "lab-02", false
					g.add(l)
				}
			}
		},
	}
}

func tornLine() incident {
	return incident{
		name:  "torn-line",
		what:  "the receiver was killed twice in the middle of writing an index line, and once restarted 3 minutes later",
		start: at(10, 33), from: at(9, 30), to: at(12, 0),
		index: func(g *gen) {
			kill, restart := at(10, 33), at(10, 36)
			for _, h := range fleet(8) {
				g.ship(h, at(8, 0), kill)
				g.puts(h, restart, restart.Add(3*time.Minute), 10*time.Second, nil)
				g.ship(h, restart.Add(3*time.Minute), at(11, 58))
			}
			g.tear(kill.Add(400*time.Millisecond), restart, `{"ts":"2026-11-26T10:33:00.400Z","host":"lab-03","auth":tr`)
			g.tear(at(11, 58).Add(100*time.Millisecond), time.Time{}, `{"ts":"2026-11-26T11:58:00.100Z","host":"lab-07","auth":true,"cert_host":"lab-07","meth`)
		},
	}
}

func healthyNoise() incident {
	return incident{
		name:  "healthy-4xx-noise",
		what:  "a healthy fleet with its everyday 4xx: resyncs after 409, new streams asked for, an oversized batch split, scanners without a certificate",
		start: at(10, 0), from: at(9, 30), to: at(12, 0),
		index: func(g *gen) {
			for i, h := range fleet(12) {
				g.ship(h, at(8, 0), at(12, 0))
				for hr := 9; hr < 12; hr++ {
					ts := at(hr, 3*i).Add(31 * time.Second)
					switch i % 3 {
					case 0: // a new stream: HEAD says none yet, then it ships
						l := g.req(h, ts, "logs", 404, "no-stream")
						l.Method, l.Stream = "HEAD", "auth.log"
						g.add(l)
					case 1: // lost its checkpoint: 409 gap, HEAD, resumes
						gap := g.req(h, ts, "logs", 409, "gap")
						head := g.req(h, ts.Add(time.Second), "logs", 200, "")
						head.Method = "HEAD"
						g.add(gap, head)
					case 2: // a batch over max_body, split and sent again
						g.add(g.req(h, ts, "logs", 413, "too-large"))
					}
				}
			}
			for m := 0; m < 240; m += 7 {
				g.add(index.Line{TS: at(8, m).Add(44 * time.Second), Host: "admin", Method: "GET", Endpoint: "other", Status: 401,
					Reason: "no-cert", Remote: "198.51.100.7:3312", Count: 4})
			}
		},
	}
}

func overQuota() incident {
	over := at(21, 40)
	return incident{
		name:  "over-quota",
		what:  "lab-03 logged a storm, hit its 1 GiB daily quota at 21:40 and held its logs until midnight UTC",
		start: over, from: at(21, 0), to: at(24, 30),
		config: "[quota]\nhost_bytes_per_day = \"1GiB\"\n",
		index: func(g *gen) {
			for _, h := range fleet(6) {
				if h != "lab-03" {
					g.ship(h, at(20, 0), at(24, 30))
					continue
				}
				g.ship(h, at(20, 0), over)
				for i, s := range []string{"syslog", "app.log", "auth.log"} {
					l := g.req(h, over.Add(time.Duration(i)*time.Second), "logs", 429, "quota")
					l.Stream, l.Bytes, l.Quota, l.QuotaUsed, l.QuotaLimit = s, 512<<10, "day", 1<<30, 1<<30
					g.add(l)
				}
				g.beats(h, over, at(24, 0), nil) // Retry-After: midnight
				g.puts(h, at(24, 0), at(24, 5), 10*time.Second, nil)
				g.ship(h, at(24, 5), at(24, 30))
			}
		},
		detects: "over-quota",
		want: []want{
			{line: "lab-03 over-quota", has: []string{"used 1.0 GiB of its daily quota of 1.0 GiB", "since 2026-11-26T21:40:00Z",
				"at least 1.5 MiB waits on it", "quota.host_bytes_per_day"}},
			{line: "lab-03 over-quota"}, {line: "lab-03 over-quota"}, {line: "lab-03 over-quota"},
			{line: "lab-03 resolved over-quota"},
		},
	}
}

func diskFull() incident {
	full, freed := at(10, 0), at(10, 40)
	return incident{
		name:  "disk-full",
		what:  "the receiver's disk fell below min_free and it refused every append with 507 for 40 minutes until space was freed",
		start: full, from: at(9, 30), to: at(11, 30),
		config: "[limits]\nmin_free = \"256MiB\"\n\n[retention]\nmax_age = \"90d\"\n",
		index: func(g *gen) {
			for _, h := range fleet(8) {
				g.ship(h, at(8, 0), full)
				g.puts(h, full, freed, 30*time.Second, func(l *index.Line) { l.Status, l.Reason = 507, "disk-full" })
				g.beats(h, full, freed, nil) // heartbeats pass down to a quarter of min_free
				g.puts(h, freed, freed.Add(5*time.Minute), 10*time.Second, nil)
				g.ship(h, freed.Add(5*time.Minute), at(11, 30))
			}
		},
		detects: "receiver-fault",
		want: []want{
			{line: "* receiver-fault", has: []string{"disk full: 8 of 8 hosts", "507 disk-full", "less free space than limits.min_free (256MiB)",
				"retention.max_age (now 90d)", "retention.max_bytes (now unset)"}, not: []string{"deploy"}, at: "10:10"},
			// Space freed at 10:40: clear at 10:50 (no 507 for two runs),
			// resolved on the second clear run, not when the 30-minute
			// window has slid past the last 507.
			{line: "* resolved receiver-fault", at: "10:55"},
		},
	}
}

func sleepThenLastBatch() incident {
	return incident{
		name:  "sleep-then-last-batch",
		what:  "two hosts' sleep and shutdown hooks raced their shippers, whose last batch landed after the beacon",
		start: at(10, 0), from: at(9, 30), to: at(13, 0),
		index: func(g *gen) {
			for _, h := range fleet(8) {
				switch h {
				case "lab-04":
					g.ship(h, at(8, 0), at(10, 0))
					g.beat(h, at(10, 0).Add(3*time.Second), "sleep")
					g.add(g.req(h, at(10, 0).Add(23*time.Second), "logs", 201, ""))
				case "lab-07":
					g.ship(h, at(8, 0), at(10, 30))
					g.beat(h, at(10, 30).Add(5*time.Second), "shutdown")
					g.add(g.req(h, at(10, 30).Add(45*time.Second), "logs", 201, ""))
				default:
					g.ship(h, at(8, 0), at(13, 0))
				}
			}
		},
	}
}

func lostToRotation() incident {
	back := at(10, 3)
	return incident{
		name:  "lost-to-rotation",
		what:  "a laptop away for longer than logrotate keeps generations came back and its shipper told the receiver 1.2 MiB of syslog were rotated away unread",
		start: back, from: at(9, 30), to: at(12, 0),
		index: func(g *gen) {
			for _, h := range fleet(6) {
				if h != "lab-02" {
					g.ship(h, at(8, 0), at(12, 0))
					continue
				}
				l := g.req(h, back, "logs", 201, "")
				l.Stream, l.Lost, l.LostCause = "syslog", 1250000, "rotated-away"
				g.add(l)
				retry := l // its retry after a lost answer tells the same loss
				retry.TS, retry.Status = back.Add(20*time.Second), 200
				g.add(retry)
				g.ship(h, back.Add(time.Minute), at(12, 0))
			}
		},
		detects: "lost-logs",
		want: []want{
			{line: "lab-02 lost-logs", at: "10:05", has: []string{"at least 1.2 MiB of stream syslog", "deleted (rotated past logrotate's count)",
				"keep more generations"}},
		},
	}
}
