package bench

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// LineMaker makes syslog-like lines of 100–200 bytes (each ending in '\n'):
// sshd, cron, systemd, kernel and web-server messages with varying numbers,
// names and addresses, timestamps a few milliseconds apart. The same seed
// makes the same lines.
type LineMaker struct {
	rnd  *rand.Rand
	host string
	ts   time.Time
	buf  []byte
}

// NewLineMaker starts lines at a fixed time, from host.
func NewLineMaker(seed uint64, host string) *LineMaker {
	return &LineMaker{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), host: host,
		ts: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC), buf: make([]byte, 0, 256)}
}

var (
	lineUsers = []string{"student", "alice", "bob", "root", "labadmin", "ta", "guest"}
	lineVerbs = []string{"GET", "GET", "GET", "POST", "PUT", "HEAD"}
	linePaths = []string{"/api/v1/items/", "/static/js/app.", "/login?next=/course/", "/assignments/", "/grades/export/"}
	lineUnits = []string{"session", "user-runtime-dir@", "apt-daily", "logrotate", "fstrim", "cups"}
)

// Line returns the next line, n bytes long (100 ≤ n ≤ 200 unless n is
// given as 0, which picks a length in that range). The slice is reused by
// the next call.
func (m *LineMaker) Line(n int) []byte {
	if n <= 0 {
		n = 100 + m.rnd.IntN(101)
	}
	m.ts = m.ts.Add(time.Duration(1+m.rnd.IntN(5000)) * time.Microsecond)
	b := m.ts.AppendFormat(m.buf[:0], "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = append(b, m.host...)
	b = append(b, ' ')
	r := m.rnd
	user := lineUsers[r.IntN(len(lineUsers))]
	switch r.IntN(5) {
	case 0:
		b = append(b, "sshd["...)
		b = strconv.AppendInt(b, int64(1000+r.IntN(60000)), 10)
		b = append(b, "]: Accepted publickey for "...)
		b = append(b, user...)
		b = strconv.AppendInt(b, int64(r.IntN(300)), 10)
		b = append(b, " from 10.0."...)
		b = strconv.AppendInt(b, int64(r.IntN(256)), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(1+r.IntN(254)), 10)
		b = append(b, " port "...)
		b = strconv.AppendInt(b, int64(1024+r.IntN(64000)), 10)
		b = append(b, " ssh2: ED25519 SHA256:"...)
	case 1:
		b = append(b, "CRON["...)
		b = strconv.AppendInt(b, int64(1000+r.IntN(60000)), 10)
		b = append(b, "]: ("...)
		b = append(b, user...)
		b = append(b, ") CMD (cd / && run-parts --report /etc/cron.hourly) job="...)
	case 2:
		b = append(b, "systemd[1]: Started "...)
		b = append(b, lineUnits[r.IntN(len(lineUnits))]...)
		b = strconv.AppendInt(b, int64(r.IntN(5000)), 10)
		b = append(b, ".service - unit for "...)
		b = append(b, user...)
		b = append(b, " invocation="...)
	case 3:
		b = append(b, "kernel: ["...)
		b = strconv.AppendFloat(b, float64(r.IntN(10000000))/1000, 'f', 6, 64)
		b = append(b, "] EXT4-fs (vda1): "...)
		b = strconv.AppendInt(b, int64(r.IntN(100)), 10)
		b = append(b, " orphan inodes deleted; recovery complete, flags="...)
	default:
		b = append(b, "nginx: 10.0."...)
		b = strconv.AppendInt(b, int64(r.IntN(256)), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(1+r.IntN(254)), 10)
		b = append(b, ` - - "`...)
		b = append(b, lineVerbs[r.IntN(len(lineVerbs))]...)
		b = append(b, ' ')
		b = append(b, linePaths[r.IntN(len(linePaths))]...)
		b = strconv.AppendInt(b, int64(r.IntN(100000)), 10)
		b = append(b, ` HTTP/1.1" `...)
		b = strconv.AppendInt(b, int64([]int{200, 200, 200, 304, 404, 500}[r.IntN(6)]), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(r.IntN(90000)), 10)
		b = append(b, " rid="...)
	}
	// Pad with hex (an id, a hash) or cut, to n-1 bytes, then the newline.
	const hex = "0123456789abcdef"
	for len(b) < n-1 {
		x := r.Uint64()
		for i := 0; i < 16 && len(b) < n-1; i++ {
			b = append(b, hex[x&15])
			x >>= 4
		}
	}
	b = append(b[:n-1], '\n')
	m.buf = b
	return b
}

// WriteLines writes exactly size bytes of lines to w (the last line is
// shortened to fit, and ends in '\n') in writes of chunk bytes, the way a
// program with buffered output writes its log, and returns how many lines.
func (m *LineMaker) WriteLines(w io.Writer, size int64, chunk int) (int64, error) {
	bw := bufio.NewWriterSize(w, chunk)
	var lines int64
	for size > 0 {
		n := 0
		if size < 300 {
			n = int(size)
		}
		l := m.Line(n)
		if int64(len(l)) > size {
			l = l[:size]
		}
		if _, err := bw.Write(l); err != nil {
			return lines, fmt.Errorf("write lines: %w", err)
		}
		size -= int64(len(l))
		lines++
	}
	if err := bw.Flush(); err != nil {
		return lines, fmt.Errorf("write lines: %w", err)
	}
	return lines, nil
}
