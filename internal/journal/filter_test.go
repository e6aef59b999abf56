package journal

import (
	"slices"
	"testing"
	"time"
)

func TestFilter(t *testing.T) {
	sshd := Entry{Unit: "ssh.service", Identifier: "sshd", Priority: 6}
	user := Entry{Unit: "user@1000.service", UserUnit: "pipewire.service", Identifier: "pipewire", Priority: 4}
	kernel := Entry{Transport: "kernel", Identifier: "kernel", Priority: 2}
	noPrio := Entry{Unit: "ssh.service", Priority: -1}
	cases := []struct {
		name string
		f    Filter
		in   Entry
		want bool
	}{
		{"everything by default", NewFilter(nil, nil, 7), sshd, true},
		{"a unit without suffix is a service", NewFilter([]string{"ssh"}, nil, 7), sshd, true},
		{"another unit", NewFilter([]string{"cron"}, nil, 7), sshd, false},
		{"a user unit", NewFilter([]string{"pipewire"}, nil, 7), user, true},
		{"a unit glob", NewFilter([]string{"user@*"}, nil, 7), user, true},
		{"an identifier", NewFilter(nil, []string{"kernel"}, 7), kernel, true},
		{"unit or identifier", NewFilter([]string{"cron"}, []string{"sshd"}, 7), sshd, true},
		{"too verbose", NewFilter(nil, nil, 5), sshd, false},
		{"urgent enough", NewFilter(nil, nil, 4), user, true},
		{"no priority ships", NewFilter(nil, nil, 0), noPrio, true},
	}
	for _, c := range cases {
		if got := c.f.Match(c.in); got != c.want {
			t.Errorf("%s: Match = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestResumeDropsOnlyTheSavedEntry(t *testing.T) {
	saved := "s=abc;i=10;b=x;m=1;t=1;x=1"
	cases := []struct {
		name  string
		saved string
		first string
		drop  bool
		lost  int64 // -2: no gap
	}{
		{"a first start drops nothing", "", "s=abc;i=1", false, -2},
		{"the saved entry is dropped", saved, saved, true, -2},
		{"the saved entry was vacuumed: 4 went with it", saved, "s=abc;i=15;b=x", false, 4},
		{"only the saved entry was vacuumed", saved, "s=abc;i=11;b=x", false, 0},
		{"a journal started anew: count unknown", saved, "s=def;i=3;b=x", false, -1},
	}
	for _, c := range cases {
		drop, gap := Resume(c.saved, Entry{Cursor: c.first})
		if drop != c.drop {
			t.Errorf("%s: drop = %v", c.name, drop)
		}
		switch {
		case c.lost == -2 && gap != nil:
			t.Errorf("%s: gap %+v", c.name, gap)
		case c.lost != -2 && (gap == nil || gap.Lost != c.lost):
			t.Errorf("%s: gap %+v, want %d lost", c.name, gap, c.lost)
		}
	}
}

func TestArgsNeverMatch(t *testing.T) {
	for _, o := range []Options{{Cursor: "s=1;i=2"}, {AllHistory: true}, {}, {UserJournals: true, Cursor: "c"}, {Booted: time.Unix(1765116187, 0)}} {
		if !slices.Contains(o.Args(), "--merge") {
			t.Errorf("%+v: without --merge, --follow reads only the current boot (systemd 251+)", o)
		}
		for _, a := range o.Args() {
			if len(a) > 0 && a[0] != '-' {
				t.Errorf("%+v: argument %q is a match; the shipper filters", o, a)
			}
			if a == "--after-cursor" || len(a) > 14 && a[:14] == "--after-cursor" {
				t.Errorf("%+v: --after-cursor skips entries on systemd 252", o)
			}
		}
	}
}
