package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// bin is a binary export field.
func bin(key string, val []byte) string {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(val)))
	return key + "\n" + string(n[:]) + string(val) + "\n"
}

func TestParserReadsEntries(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []Entry
		err  error // after the entries
	}{
		{
			name: "text fields",
			in:   "__CURSOR=s=a;i=1\n__REALTIME_TIMESTAMP=1700000000123456\n_BOOT_ID=0123456789abcdef\nPRIORITY=6\n_SYSTEMD_UNIT=ssh.service\nSYSLOG_IDENTIFIER=sshd\n_PID=812\nMESSAGE=hello\nOTHER=ignored\n\n",
			want: []Entry{{Cursor: "s=a;i=1", Realtime: 1700000000123456, Boot: "0123456789abcdef", Priority: 6, Unit: "ssh.service",
				Identifier: "sshd", PID: "812", Message: []byte("hello"), MessageSize: 5}},
			err: io.EOF,
		},
		{
			name: "binary message with a newline and a NUL",
			in:   "__CURSOR=c1\n" + bin("MESSAGE", []byte("two\nlines\x00")) + "\n",
			want: []Entry{{Cursor: "c1", Realtime: -1, Priority: -1, Message: []byte("two\nlines\x00"), MessageSize: 10}},
			err:  io.EOF,
		},
		{
			name: "a binary field not kept is read past",
			in:   "__CURSOR=c1\n" + bin("COREDUMP", bytes.Repeat([]byte{0}, 100000)) + "MESSAGE=after\n\n__CURSOR=c2\nMESSAGE=next\n\n",
			want: []Entry{
				{Cursor: "c1", Realtime: -1, Priority: -1, Message: []byte("after"), MessageSize: 5},
				{Cursor: "c2", Realtime: -1, Priority: -1, Message: []byte("next"), MessageSize: 4},
			},
			err: io.EOF,
		},
		{
			name: "a torn entry is not returned",
			in:   "__CURSOR=c1\nMESSAGE=whole\n\n__CURSOR=c2\nMESSAGE=to",
			want: []Entry{{Cursor: "c1", Realtime: -1, Priority: -1, Message: []byte("whole"), MessageSize: 5}},
			err:  io.ErrUnexpectedEOF,
		},
		{
			name: "torn inside a binary size",
			in:   "__CURSOR=c1\nMESSAGE\n\x05\x00",
			err:  io.ErrUnexpectedEOF,
		},
		{
			name: "an entry without its blank line is torn",
			in:   "__CURSOR=c1\nMESSAGE=x\n",
			err:  io.ErrUnexpectedEOF,
		},
		{
			name: "a binary field of an impossible size",
			in:   "MESSAGE\n\xff\xff\xff\xff\xff\xff\xff\xff",
			err:  ErrFormat,
		},
		{
			name: "a priority that is not 0-7",
			in:   "PRIORITY=9\n\n",
			want: []Entry{{Realtime: -1, Priority: -1}},
			err:  io.EOF,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewParser(strings.NewReader(c.in))
			var got []Entry
			var err error
			for {
				var e Entry
				if e, err = p.Next(); err != nil {
					break
				}
				got = append(got, e)
			}
			if !errors.Is(err, c.err) {
				t.Errorf("error %v, want %v", err, c.err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d entries %+v, want %d", len(got), got, len(c.want))
			}
			for i := range got {
				if string(Line(got[i])) != string(Line(c.want[i])) || got[i].Cursor != c.want[i].Cursor {
					t.Errorf("entry %d: %+v, want %+v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestParserCapsAHugeMessage(t *testing.T) {
	huge := strings.Repeat("x", 5<<20)
	for _, in := range []string{"MESSAGE=" + huge + "\n\n", bin("MESSAGE", []byte(huge)) + "\n"} {
		e, err := NewParser(strings.NewReader(in)).Next()
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Message) != MaxMessage || e.MessageSize != int64(len(huge)) {
			t.Fatalf("kept %d of %d bytes, want %d of %d", len(e.Message), e.MessageSize, MaxMessage, len(huge))
		}
		if line := string(Line(e)); !strings.HasSuffix(line, "x [cis490: message cut at 16384 of 5242880 bytes]\n") {
			t.Errorf("line ends %q", line[len(line)-60:])
		}
	}
}

func FuzzParser(f *testing.F) {
	f.Add([]byte("__CURSOR=c\nMESSAGE=m\n\n"))
	f.Add([]byte(bin("MESSAGE", []byte("a\nb")) + "\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p := NewParser(bytes.NewReader(in))
		for range 1000 {
			e, err := p.Next()
			if err != nil {
				return
			}
			if len(e.Message) > MaxMessage {
				t.Fatalf("kept %d bytes of a message", len(e.Message))
			}
			line := Line(e)
			if bytes.IndexByte(line, '\n') != len(line)-1 {
				t.Fatalf("line %q is not one line", line)
			}
		}
	})
}
