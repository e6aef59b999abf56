package fleethealth

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// The state file's formats. The first (StateVersion 1) is gob of State.
// The second starts with stateMagic, then gob of stateWire: the same
// fields, but what every host has (its stamps, words, installations,
// latest request, per-minute and per-hour counts) packed into one run of
// bytes by hand, and gob only for the rest of a host that has more (a
// doctor's verdict, a quota refusal, a loss, any field added later).
// gob walks fields one by one by reflection and encodes each time.Time
// through an interface and an allocation, and there are a thousand
// hosts with a day of counts each: packed, the timer's run decodes and
// encodes the state in a fraction of the time. Both formats are read;
// the second is written.
var stateMagic = []byte("cis490 fleet-health state 2\n")

// stateWire is State as the second format writes it.
type stateWire struct {
	Version    int
	LastRun    time.Time
	Checkpoint index.Checkpoint
	// Hosts is the number of hosts, then each one's name and packHost.
	Hosts []byte
	// More is, by name, what packHost leaves out of a host, for the
	// hosts that have any of it.
	More   map[string]*Host
	Tracks map[string]*Track
	Fleet  Fleet
	Outbox []Outgoing
}

// encodeState writes st in the second format.
func encodeState(st *State) ([]byte, error) {
	w := stateWire{Version: StateVersion, LastRun: st.LastRun, Checkpoint: st.Checkpoint,
		Tracks: st.Tracks, Fleet: st.Fleet, Outbox: st.Outbox}
	size := 16
	for name, h := range st.Hosts {
		size += 256 + len(name) + 8*(len(h.Minutes)+len(h.Hours)) // most counts take a byte
	}
	packed := binary.AppendUvarint(make([]byte, 0, size), uint64(len(st.Hosts)))
	var rest Host
	for name, h := range st.Hosts {
		packed = appendString(packed, name)
		var err error
		if packed, err = packHost(packed, h); err != nil {
			return nil, fmt.Errorf("host %s: %w", name, err)
		}
		// A shallow copy, so the live state is left as it is.
		rest = *h
		unpacked(&rest)
		if !reflect.ValueOf(&rest).Elem().IsZero() {
			if w.More == nil {
				w.More = map[string]*Host{}
			}
			more := rest
			w.More[name] = &more
		}
	}
	w.Hosts = packed
	var buf bytes.Buffer
	buf.Grow(len(stateMagic) + len(packed) + 4096)
	buf.Write(stateMagic)
	if err := gob.NewEncoder(&buf).Encode(&w); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeState reads a state file in either format, refusing another
// version's.
func decodeState(b []byte, st *State) error {
	if !bytes.HasPrefix(b, stateMagic) {
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(st); err != nil {
			return err
		}
		if st.Version != 1 {
			return fmt.Errorf("version %d, this build reads 1 and %d", st.Version, StateVersion)
		}
		st.Version = StateVersion
		return nil
	}
	var w stateWire
	if err := gob.NewDecoder(bytes.NewReader(b[len(stateMagic):])).Decode(&w); err != nil {
		return err
	}
	if w.Version != StateVersion {
		return fmt.Errorf("version %d, this build reads 1 and %d", w.Version, StateVersion)
	}
	*st = State{Version: StateVersion, LastRun: w.LastRun, Checkpoint: w.Checkpoint,
		Tracks: w.Tracks, Fleet: w.Fleet, Outbox: w.Outbox}
	r := packed{b: w.Hosts}
	n := r.length()
	st.Hosts = make(map[string]*Host, n)
	slab := make([]Host, n) // one allocation for the hosts without more
	for i := range slab {
		name := r.string()
		h := w.More[name]
		if h == nil {
			h = &slab[i]
		}
		r.host(h)
		st.Hosts[name] = h
	}
	if r.bad || r.i != len(r.b) || len(st.Hosts) != n {
		return errPacked
	}
	for name := range w.More {
		if st.Hosts[name] == nil {
			return fmt.Errorf("the state has more of host %s but not the host", name)
		}
	}
	return nil
}

// unpacked clears in h what packHost packs, so gob leaves it out.
func unpacked(h *Host) {
	h.LastSeen, h.LastOK, h.OffAt, h.LastLogs = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	h.CertExpires, h.BootAt, h.LastReport, h.BeatAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	h.Off, h.Commit, h.StaleCommit, h.LastInstance, h.Beat = "", "", "", "", ""
	h.Unstamped, h.Days, h.LastDay = false, 0, 0
	h.Instances, h.Switches, h.LastReq = nil, nil, nil
	h.Minutes, h.Hours = nil, nil
}

// packHost appends what every host has: its stamps (time.Time's binary
// form, so the zone comes back too; a zero time as an empty one), words
// and numbers, installations, switches and latest request; then its
// Minutes and Hours, each list's length, then per entry its At less the
// one before's and its counts, as varints, a minute's reasons by count,
// then name and number each.
func packHost(b []byte, h *Host) ([]byte, error) {
	var err error
	for _, t := range [...]time.Time{h.LastSeen, h.LastOK, h.OffAt, h.LastLogs, h.CertExpires, h.BootAt, h.LastReport, h.BeatAt} {
		if b, err = appendTime(b, t); err != nil {
			return nil, err
		}
	}
	for _, s := range [...]string{h.Off, h.Commit, h.StaleCommit, h.LastInstance, h.Beat} {
		b = appendString(b, s)
	}
	var flags int64
	if h.Unstamped {
		flags |= 1
	}
	if h.LastReq != nil {
		flags |= 2
	}
	b = binary.AppendVarint(b, flags)
	b = binary.AppendVarint(b, int64(h.Days))
	b = binary.AppendVarint(b, h.LastDay)
	b = binary.AppendUvarint(b, uint64(len(h.Instances)))
	for id, t := range h.Instances {
		b = appendString(b, id)
		if b, err = appendTime(b, t); err != nil {
			return nil, err
		}
	}
	b = binary.AppendUvarint(b, uint64(len(h.Switches)))
	for _, t := range h.Switches {
		if b, err = appendTime(b, t); err != nil {
			return nil, err
		}
	}
	if r := h.LastReq; r != nil {
		if b, err = appendTime(b, r.At); err != nil {
			return nil, err
		}
		b = appendString(b, r.Method)
		b = appendString(b, r.Endpoint)
		b = binary.AppendVarint(b, int64(r.Status))
		b = appendString(b, r.Reason)
	}
	b = binary.AppendUvarint(b, uint64(len(h.Minutes)))
	var prev int64
	for i := range h.Minutes {
		m := &h.Minutes[i]
		b = binary.AppendVarint(b, m.At-prev)
		prev = m.At
		for _, n := range [...]int{m.OK, m.C4, m.C5, m.Stale, m.Any5} {
			b = binary.AppendVarint(b, int64(n))
		}
		b = binary.AppendUvarint(b, uint64(len(m.Reasons)))
		for k, n := range m.Reasons {
			b = appendString(b, k)
			b = binary.AppendVarint(b, int64(n))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(h.Hours)))
	prev = 0
	for i := range h.Hours {
		hr := &h.Hours[i]
		b = binary.AppendVarint(b, hr.At-prev)
		prev = hr.At
		for _, n := range hr.N {
			b = binary.AppendVarint(b, int64(n))
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	if t.IsZero() {
		return append(b, 0), nil
	}
	at := len(b)
	b, err := t.AppendBinary(append(b, 0))
	if err != nil {
		return nil, err
	}
	b[at] = byte(len(b) - at - 1) // 15 or 16 bytes
	return b, nil
}

var errPacked = errors.New("the packed host is cut short or garbled")

// unpackHost reads what packHost wrote, and only that, into h.
func unpackHost(b []byte, h *Host) error {
	r := packed{b: b}
	r.host(h)
	if r.bad || r.i != len(r.b) {
		return errPacked
	}
	return nil
}

// host reads what packHost wrote into h. Lengths are checked against the
// bytes left, so a garbled file is an error, not a huge allocation.
func (r *packed) host(h *Host) {
	for _, t := range [...]*time.Time{&h.LastSeen, &h.LastOK, &h.OffAt, &h.LastLogs, &h.CertExpires, &h.BootAt, &h.LastReport, &h.BeatAt} {
		*t = r.time()
	}
	for _, s := range [...]*string{&h.Off, &h.Commit, &h.StaleCommit, &h.LastInstance, &h.Beat} {
		*s = r.word()
	}
	flags := r.int()
	h.Unstamped = flags&1 != 0
	h.Days = int(r.int())
	h.LastDay = r.int()
	if n := r.length(); n > 0 {
		h.Instances = make(map[string]time.Time, n)
		for range n {
			id := r.string()
			h.Instances[id] = r.time()
		}
	}
	if n := r.length(); n > 0 {
		h.Switches = make([]time.Time, n)
		for i := range h.Switches {
			h.Switches[i] = r.time()
		}
	}
	if flags&2 != 0 {
		h.LastReq = &RequestSeen{At: r.time(), Method: r.word(), Endpoint: r.word(), Status: int(r.int()), Reason: r.word()}
	}
	if n := r.length(); n > 0 {
		h.Minutes = make([]Minute, n)
		var at int64
		for i := range h.Minutes {
			m := &h.Minutes[i]
			at += r.int()
			m.At = at
			m.OK, m.C4, m.C5, m.Stale, m.Any5 = int(r.int()), int(r.int()), int(r.int()), int(r.int()), int(r.int())
			if k := r.length(); k > 0 {
				m.Reasons = make(map[string]int, k)
				for range k {
					name := r.word()
					m.Reasons[name] = int(r.int())
				}
			}
		}
	}
	if n := r.length(); n > 0 {
		h.Hours = make([]Hour, n)
		var at int64
		for i := range h.Hours {
			hr := &h.Hours[i]
			at += r.int()
			hr.At = at
			for j := range hr.N {
				hr.N[j] = int(r.int())
			}
		}
	}
}

// packed reads what packHost wrote; past the first fault it reads
// zeros. It moves an offset, not the slice, so reading writes no pointer.
type packed struct {
	b     []byte
	i     int
	bad   bool
	words map[string]string
}

func (r *packed) int() int64 {
	v, n := binary.Varint(r.b[r.i:])
	if n <= 0 {
		r.bad, r.i = true, len(r.b)
		return 0
	}
	r.i += n
	return v
}

// length reads a count of things that each take at least a byte.
func (r *packed) length() int {
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 || v > uint64(len(r.b)-r.i-n) {
		r.bad, r.i = true, len(r.b)
		return 0
	}
	r.i += n
	return int(v)
}

func (r *packed) string() string {
	n := r.length()
	s := string(r.b[r.i : r.i+n])
	r.i += n
	return s
}

// word is a string that many hosts share (a commit, a method, a
// reason): one copy for all of them.
func (r *packed) word() string {
	n := r.length()
	b := r.b[r.i : r.i+n]
	r.i += n
	if w, ok := r.words[string(b)]; ok {
		return w
	}
	if r.words == nil {
		r.words = map[string]string{}
	}
	w := string(b)
	r.words[w] = w
	return w
}

func (r *packed) time() time.Time {
	var t time.Time
	n := r.length()
	if n > 0 && t.UnmarshalBinary(r.b[r.i:r.i+n]) != nil {
		r.bad, r.i = true, len(r.b)
		return time.Time{}
	}
	r.i += n
	return t
}
