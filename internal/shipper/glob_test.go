package shipper

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/names"
)

func TestGlobStream(t *testing.T) {
	tests := []struct{ pattern, file, want string }{
		{"/var/log/*/app.log", "/var/log/nginx/app.log", "nginx__app.log"},
		{"/var/log/*.log", "/var/log/kern.log", "kern.log"},
		{"/var/log/*.log", "/var/log/.hidden.log", "x2ehidden.log"},
		{"/var/log/*.log", "/var/log/xorg.log", "x78org.log"},
		{"/var/log/*", "/var/log/a_b c", "a_5fb_20c"},
		{"/srv/*/logs/*.log", "/srv/site-1/logs/access.log", "site-1__logs__access.log"},
		{"/var/log/lab*/*", "/var/log/lab7/ü", "lab7___c3_bc"},
	}
	for _, tt := range tests {
		got := GlobStream(tt.pattern, tt.file)
		if got != tt.want {
			t.Errorf("GlobStream(%q, %q) = %q, want %q", tt.pattern, tt.file, got, tt.want)
		}
		if err := names.Stream(got); err != nil {
			t.Errorf("GlobStream(%q) = %q is not a valid stream: %v", tt.file, got, err)
		}
	}
	long := "/d/" + strings.Repeat("a", 200)
	if got := GlobStream("/d/*", long); len(got) != 128 || names.Stream(got) != nil || got == GlobStream("/d/*", long+"b") {
		t.Errorf("long name %q", got)
	}
}

// FuzzGlobStreamCollisionFree: two different files under one glob never
// share a stream, and every name is a valid stream name.
func FuzzGlobStreamCollisionFree(f *testing.F) {
	f.Add("a_b", "a/b")
	f.Add(".x", "x2ex")
	f.Add("0_a", "_a")
	f.Add("xa", "x78a")
	f.Fuzz(func(t *testing.T, a, b string) {
		if a == b || a == "" || b == "" || strings.ContainsAny(a+b, "\x00") ||
			strings.Contains(a, "..") || strings.Contains(b, "..") || len(a) > 60 || len(b) > 60 ||
			filepath.Clean("/r/"+a) != "/r/"+a || filepath.Clean("/r/"+b) != "/r/"+b {
			return
		}
		na, nb := GlobStream("/r/*", "/r/"+a), GlobStream("/r/*", "/r/"+b)
		if na == nb {
			t.Fatalf("%q and %q both ship as %q", a, b, na)
		}
		if err := names.Stream(na); err != nil {
			t.Fatalf("%q ships as invalid %q: %v", a, na, err)
		}
	})
}

func TestGlobSkipsRotatedCopies(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"app.log", "app.log.1", "app.log.2.gz", "app.log-20261127", "sys.log", "sys.log.old", "other.1", "x.gz"} {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	got := globFiles(filepath.Join(dir, "*"), nil)
	var base []string
	for _, g := range got {
		base = append(base, filepath.Base(g))
	}
	if strings.Join(base, " ") != "app.log other.1 sys.log" {
		t.Fatalf("glob follows %v; want the live files only", base)
	}
	// A rotated copy stays skipped while its original is briefly absent
	// (renamed away, not yet recreated) if the original is followed.
	os.Remove(filepath.Join(dir, "app.log"))
	got = globFiles(filepath.Join(dir, "*"), map[string]bool{filepath.Join(dir, "app.log"): true})
	for _, g := range got {
		if strings.HasPrefix(filepath.Base(g), "app.log") {
			t.Fatalf("glob picked up %s while app.log is followed", g)
		}
	}
}
