package fleethealth

import (
	"bytes"
	"encoding/gob"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// sampleState is a state with every part a run keeps filled in: two hosts
// with per-minute counts (one with refusal reasons), per-hour counts,
// installations, a doctor's and a quota's verdict, a loss; a track, the
// fleet's outages and silent group, a waiting notification.
func sampleState() *State {
	at := time.Date(2026, 11, 26, 9, 59, 0, 0, time.UTC)
	minute := at.Unix() / 60
	hour := at.Unix() / 3600
	return &State{
		Version: 1,
		LastRun: at,
		Checkpoint: index.Checkpoint{File: "2026-11-26.jsonl", Offset: 825, Seq: 3, TS: at,
			Tail: []index.Mark{{End: 275, Hash: 8236180370328583617}, {End: 825, Hash: 5486853859036801689}}},
		Hosts: map[string]*Host{
			"lab-0001": {
				LastSeen: at, LastOK: at.Add(-time.Minute), Commit: "3f786850e387550fdab836ed7e6dc881de23001b",
				LastLogs: at, StaleCommit: "0000000000000000000000000000000000000001",
				Minutes: []Minute{
					{At: minute - 2, OK: 3},
					{At: minute - 1, OK: 1, C4: 2, C5: 1, Stale: 1, Any5: 2, Reasons: map[string]int{"host-mismatch": 2, "quota": 1}},
					{At: minute, OK: 40},
				},
				Hours:        []Hour{{At: hour - 1, N: [6]int{0, 0, 60, 0, 2, 1}}, {At: hour, N: [6]int{0, 1, 44, 0, 0, 0}}},
				Instances:    map[string]time.Time{"9c2b4f0e51a7d3c8": at, "1111111111111111": at.Add(-time.Hour)},
				LastInstance: "9c2b4f0e51a7d3c8",
				Switches:     []time.Time{at.Add(-time.Hour)},
				CertExpires:  at.Add(300 * 24 * time.Hour),
				BootAt:       at.Add(-2 * time.Hour), LastReport: at.Add(-time.Hour), Days: 2, LastDay: 20418,
				Doctor:    &DoctorSeen{At: at.Add(-time.Hour), Failing: []string{"disk"}, Summary: "disk 97% full"},
				OverQuota: &QuotaSeen{Since: at.Add(-time.Minute), At: at, Reason: "quota", Kind: "bytes", Used: 9, Limit: 8, Refused: map[string]int64{"syslog": 4096}},
				LastReq:   &RequestSeen{At: at, Method: "PUT", Endpoint: "logs", Status: 201},
				Beat:      "ok", BeatAt: at,
				Losses: []LossSeen{{At: at, Stream: "syslog", Bytes: 100, Entries: 2, Cause: "spool full"}},
			},
			"lab-0002": {LastSeen: at, Off: "shutdown", OffAt: at, Unstamped: true},
		},
		Tracks: map[string]*Track{
			trackKey("lab-0001", StaleCode): {Host: "lab-0001", Symptom: StaleCode, Detail: "runs 0000", Holds: 3, Fired: true, Since: at, Bucket: Bucket(at)},
		},
		Fleet: Fleet{LastAny: at, Outages: []Outage{{From: at.Add(-3 * time.Hour), To: at.Add(-2 * time.Hour)}},
			SilentGroup: &SilentGroup{Base: 10, Members: map[string]time.Time{"lab-0003": at}},
			Inflight:    &LimitSeen{At: at, Used: 5, Limit: 4}},
		Outbox: []Outgoing{{URL: "https://hooks.example/x", Kind: "slack", Alert: Alert{TS: at, Host: "lab-0001", Symptom: StaleCode, Detail: "d", Bucket: Bucket(at)}}},
	}
}

// TestStateV1WithCounts: a state file in the first format (gob of State,
// as every release before the second format wrote it; testdata/
// state-v1-counts.gob is sampleState so written) still loads whole, so a
// data folder resumes where it stopped after an upgrade.
func TestStateV1WithCounts(t *testing.T) {
	p := filepath.Join("testdata", "state-v1-counts.gob")
	if os.Getenv("CIS490_WRITE_STATE_V1") != "" {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(sampleState()); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var got State
	if err := decodeState(b, &got); err != nil {
		t.Fatal(err)
	}
	want := sampleState()
	want.Version = StateVersion
	if !reflect.DeepEqual(&got, want) {
		t.Fatalf("decoded %+v\nwant %+v", got, want)
	}
}

// TestStateRoundTrip: what a run saves (the second format) loads back
// as it was, and saving leaves the live state alone.
func TestStateRoundTrip(t *testing.T) {
	st := sampleState()
	st.Version = StateVersion
	b, err := encodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, stateMagic) {
		t.Fatalf("saved state starts %q", b[:min(len(b), 32)])
	}
	if !reflect.DeepEqual(st, func() *State { w := sampleState(); w.Version = StateVersion; return w }()) {
		t.Fatal("encoding changed the state it saved")
	}
	var got State
	if err := decodeState(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, st) {
		t.Fatalf("decoded %+v\nwant %+v", got, st)
	}
}

// TestPackedFields: packHost writes Minute's, Hour's and RequestSeen's
// fields by hand, so a field added to one would be lost on every save;
// this fails until packHost and unpackHost carry it. (A field added to
// Host itself is carried by gob.)
func TestPackedFields(t *testing.T) {
	for _, c := range []struct {
		typ  reflect.Type
		want []string
	}{
		{reflect.TypeFor[Minute](), []string{"At", "OK", "C4", "C5", "Stale", "Any5", "Reasons"}},
		{reflect.TypeFor[Hour](), []string{"At", "N"}},
		{reflect.TypeFor[RequestSeen](), []string{"At", "Method", "Endpoint", "Status", "Reason"}},
	} {
		var got []string
		for f := range c.typ.Fields() {
			got = append(got, f.Name)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s has fields %v; packHost carries %v", c.typ, got, c.want)
		}
	}
}

// TestGarbledState: a second-format file cut short, or a host packed
// wrong, is an error (the run moves it aside and rebuilds), never a
// crash or a huge allocation.
func TestGarbledState(t *testing.T) {
	st := sampleState()
	b, err := encodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{len(stateMagic), len(stateMagic) + 10, len(b) / 2, len(b) - 1} {
		var got State
		if decodeState(b[:n], &got) == nil {
			t.Errorf("a state cut to %d of %d bytes decoded", n, len(b))
		}
	}
	var buf bytes.Buffer
	buf.Write(stateMagic)
	gob.NewEncoder(&buf).Encode(&stateWire{Version: StateVersion, Hosts: []byte{0}, More: map[string]*Host{"lab-0009": {Beat: "ok"}}})
	if decodeState(buf.Bytes(), &State{}) == nil {
		t.Error("a state with more of a host it does not have decoded")
	}
	h := sampleState().Hosts["lab-0001"]
	p, err := packHost(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(p) {
		if unpackHost(p[:n], &Host{}) == nil {
			t.Errorf("a host cut to %d of %d bytes unpacked", n, len(p))
		}
	}
	empty := make([]byte, 8+5+3) // no times, no words, no flags, days or day
	for _, garbled := range [][]byte{
		append(p, 0), // a byte too many
		append(empty, 0xff, 0xff, 0xff, 0xff, 0x0f),     // a huge count of installations
		append([]byte{3, 1, 2, 3}, empty[1:]...),        // a time of 3 bytes
		append(append(empty[:8:8], 0x7f), empty[9:]...), // a word longer than what is left
	} {
		if unpackHost(garbled, &Host{}) == nil {
			t.Errorf("%v unpacked", garbled)
		}
	}
}

// TestSampleStateFillsHosts: the round trip above covers every field of
// Host only if sampleState sets each on some host.
func TestSampleStateFillsHosts(t *testing.T) {
	hosts := sampleState().Hosts
	for f := range reflect.TypeFor[Host]().Fields() {
		set := false
		for _, h := range hosts {
			set = set || !reflect.ValueOf(h).Elem().FieldByIndex(f.Index).IsZero()
		}
		if !set {
			t.Errorf("no host in sampleState sets %s", f.Name)
		}
	}
}

// BenchmarkStateCodec saves and loads the state of benchData's 200 hosts
// (a day of per-hour counts, 30 minutes of per-minute counts each).
func BenchmarkStateCodec(b *testing.B) {
	data, _ := benchData(b)
	raw, err := Files(data, "").LoadState()
	if err != nil {
		b.Fatal(err)
	}
	var st State
	if err := decodeState(raw, &st); err != nil {
		b.Fatal(err)
	}
	v1 := st
	v1.Version = 1
	b.Run("v1/decode", func(b *testing.B) {
		var buf bytes.Buffer
		gob.NewEncoder(&buf).Encode(&v1)
		for b.Loop() {
			var got State
			if err := decodeState(buf.Bytes(), &got); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "file-bytes")
	})
	b.Run("v1/encode", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			gob.NewEncoder(&buf).Encode(&v1)
		}
	})
	b.Run("v2/decode", func(b *testing.B) {
		enc, _ := encodeState(&st)
		for b.Loop() {
			var got State
			if err := decodeState(enc, &got); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(enc)), "file-bytes")
	})
	b.Run("v2/encode", func(b *testing.B) {
		for b.Loop() {
			encodeState(&st)
		}
	})
}
