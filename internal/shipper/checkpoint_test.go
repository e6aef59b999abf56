package shipper

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckpoints(t *testing.T) {
	dir := t.TempDir()
	cps, err := OpenCheckpoints(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cps.Load("syslog"); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("missing checkpoint = %v; want ErrNoCheckpoint", err)
	}
	cp := Checkpoint{Stream: "syslog", Path: "/var/log/syslog", Gen: Ident{Dev: 1, Ino: 2, FPLen: 3, FP: "ab"}, GenStart: 100, Acked: 42, Seen: 50}
	if err := cps.Save(cp); err != nil {
		t.Fatal(err)
	}
	got, err := cps.Load("syslog")
	cp.Version = checkpointVersion
	if err != nil || got != cp || got.Length() != 142 {
		t.Fatalf("load = %+v, %v; want %+v", got, err, cp)
	}
	if st, _ := os.Stat(filepath.Join(dir, "syslog.json")); st.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint mode %v", st.Mode().Perm())
	}
	for name, body := range map[string]string{
		"torn":     `{"version":1,"stream":"syslog","generation_st`,
		"foreign":  `{"version":1,"stream":"auth.log","generation_start":0,"acked":0}`,
		"future":   `{"version":9,"stream":"syslog"}`,
		"negative": `{"version":1,"stream":"syslog","acked":-5}`,
	} {
		os.WriteFile(filepath.Join(dir, "syslog.json"), []byte(body), 0o600)
		if _, err := cps.Load("syslog"); !errors.Is(err, ErrNoCheckpoint) {
			t.Errorf("%s checkpoint = %v; want ErrNoCheckpoint, not a crash", name, err)
		}
	}
}

func TestIdent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	os.WriteFile(p, []byte("first generation\n"), 0o644)
	f, _ := os.Open(p)
	defer f.Close()
	id, err := identify(f)
	if err != nil || id.FPLen != 17 || id.Ino == 0 {
		t.Fatalf("identify = %+v, %v", id, err)
	}
	// It grows: still the same generation.
	af, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	af.WriteString("more\n")
	af.Close()
	if !id.same(f) {
		t.Fatal("a growing file is no longer recognised")
	}
	// copytruncate: the copy has the content but another inode.
	b, _ := os.ReadFile(p)
	os.WriteFile(p+".1", b, 0o644)
	c, _ := os.Open(p + ".1")
	defer c.Close()
	if id.same(c) || !id.sameContent(c) {
		t.Fatal("the rotated copy must match by content, not as the same file")
	}
	// The original is truncated and written anew: a new generation in the
	// same inode.
	os.WriteFile(p, []byte("second generation\n"), 0o644)
	if id.same(f) {
		t.Fatal("a file truncated and rewritten in place is still taken for the old generation")
	}
	id2, _ := identify(f)
	if id2.ID() == id.ID() {
		t.Fatalf("two generations share the id %s", id.ID())
	}
	if back, ok := ParseID(id.ID()); !ok || back != id || len(id.ID()) > 255 {
		t.Fatalf("ParseID(%q) = %+v, %v", id.ID(), back, ok)
	}
	for _, bad := range []string{"", "1-2-3", "1-2-3-zz", "1-2-99999-" + id.FP} {
		if _, ok := ParseID(bad); ok {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}
