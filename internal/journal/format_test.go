package journal

import "testing"

func TestLine(t *testing.T) {
	base := Entry{Cursor: "c", Realtime: 1765116187123456, Boot: "3f2a9c1d0000", Priority: 6, Unit: "ssh.service",
		Identifier: "sshd", PID: "812", Message: []byte("Accepted publickey for ana")}
	cases := []struct {
		name string
		edit func(*Entry)
		want string
	}{
		{"a service's entry", func(*Entry) {}, "2025-12-07T14:03:07.123456Z 3f2a9c1d info ssh.service sshd[812]: Accepted publickey for ana\n"},
		{"a kernel message", func(e *Entry) {
			e.Unit, e.Identifier, e.PID, e.Transport, e.Priority = "", "kernel", "", "kernel", 4
		}, "2025-12-07T14:03:07.123456Z 3f2a9c1d warning kernel kernel: Accepted publickey for ana\n"},
		{"no identifier: the command, and SYSLOG_PID", func(e *Entry) {
			e.Identifier, e.Comm, e.PID, e.SyslogPID = "", "cron", "", "77"
		}, "2025-12-07T14:03:07.123456Z 3f2a9c1d info ssh.service cron[77]: Accepted publickey for ana\n"},
		{"nothing known", func(e *Entry) { *e = Entry{Realtime: -1, Priority: -1} }, "- - - - -: \n"},
		{"newlines, tabs, backslashes, control and non-UTF-8 bytes are escaped", func(e *Entry) {
			e.Message = []byte("a\nb\tc\\d\x1be\xff ünï")
		}, "2025-12-07T14:03:07.123456Z 3f2a9c1d info ssh.service sshd[812]: a\\nb\\tc\\\\d\\x1be\\xff ünï\n"},
		{"a space in an identifier cannot shift the fields", func(e *Entry) { e.Identifier = "my app" },
			"2025-12-07T14:03:07.123456Z 3f2a9c1d info ssh.service my\\x20app[812]: Accepted publickey for ana\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := base
			c.edit(&e)
			if got := string(Line(e)); got != c.want {
				t.Errorf("Line:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestParsePriority(t *testing.T) {
	for in, want := range map[string]int{"info": 6, "6": 6, "err": 3, "error": 3, "warning": 4, "warn": 4, "debug": 7, "emerg": 0} {
		if got, ok := ParsePriority(in); !ok || got != want {
			t.Errorf("ParsePriority(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "8", "loud", "Info"} {
		if _, ok := ParsePriority(in); ok {
			t.Errorf("ParsePriority(%q) accepted", in)
		}
	}
}
