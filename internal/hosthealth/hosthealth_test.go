package hosthealth

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestParse: a report's own verdict counts; one without a verdict (an
// older doctor) is OK exactly when no check failed; what is not a report
// is an error.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		body    string
		ok      bool
		failing int
		err     bool
	}{
		{`{"ok":true,"checks":[{"name":"a","status":"ok"}]}`, true, 0, false},
		{`{"ok":false,"checks":[{"name":"a","status":"warn"}]}`, false, 0, false},
		{`{"checks":[{"name":"a","status":"fail"},{"name":"b","status":"fail"}]}`, false, 2, false},
		{`{"checks":[{"name":"a","status":"warn"}]}`, true, 0, false},
		// A fact or stamp of the wrong type costs only itself.
		{`{"ok":false,"at":"yesterday","version":2,"facts":{"disk_free_bytes":1.5e12},"checks":[{"name":"a","status":"fail"}]}`, false, 1, false},
		{`{"facts":[],"checks":[{"name":"a","status":"fail"}]}`, false, 1, false},
		{`{"checks":"none"}`, false, 0, true},
		{`[1,2]`, false, 0, true},
	} {
		rep, err := Parse([]byte(tc.body))
		if (err != nil) != tc.err {
			t.Errorf("Parse(%s): error %v, want error %v", tc.body, err, tc.err)
			continue
		}
		if err == nil && (rep.OK != tc.ok || len(rep.Failing()) != tc.failing) {
			t.Errorf("Parse(%s): ok %v with %d failing, want %v with %d", tc.body, rep.OK, len(rep.Failing()), tc.ok, tc.failing)
		}
	}
}

// TestListAndRead: only hosts' snapshots are listed (no temp file, no
// folder, no name that is not a host's), with when each arrived; a name
// that is not a host's never reaches the filesystem.
func TestListAndRead(t *testing.T) {
	dir := t.TempDir()
	if ents, err := Folder(filepath.Join(dir, "missing")).List(); err != nil || len(ents) != 0 {
		t.Fatalf("a missing folder: %v %v", ents, err)
	}
	at := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for _, h := range []string{"lab-2", "lab-1"} {
		if err := Folder(dir).Write(h, []byte(`{"ok":true}`), at); err != nil {
			t.Fatal(err)
		}
	}
	if err := Folder(dir).Write("Not A Host", []byte(`{}`), at); err == nil {
		t.Fatal("a snapshot was written under a name that is not a host's")
	}
	os.WriteFile(filepath.Join(dir, ".lab-3.json.123.tmp"), []byte("{"), 0o640)
	os.WriteFile(filepath.Join(dir, "Not A Host.json"), []byte("{}"), 0o640)
	os.Mkdir(filepath.Join(dir, "lab-4.json"), 0o750)
	ents, err := Folder(dir).List()
	if err != nil || len(ents) != 2 || ents[0].Host != "lab-1" || ents[1].Host != "lab-2" || !ents[0].ReceivedAt.Equal(at) {
		t.Fatalf("List = %+v, %v; want lab-1 and lab-2 received at %s", ents, err, at)
	}
	os.WriteFile(filepath.Join(filepath.Dir(dir), "outside.json"), []byte(`{}`), 0o640)
	if _, err := Folder(dir).Read("../outside"); !os.IsNotExist(err) {
		t.Fatalf("reading a name that is not a host's, outside the folder: %v", err)
	}
	if err := Folder(dir).Prepare(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".lab-3.json.123.tmp")); !os.IsNotExist(err) {
		t.Fatal("Prepare left a crash's temp file")
	}
}
