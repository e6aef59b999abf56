package datadir

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// layout is data_dir as receivers in the field have it: a name here must
// never change, or an upgraded receiver loses its data or its fleet.
// trust marks what `ca backup` must carry.
var layout = map[string]struct {
	rel   string
	trust bool
}{
	"Logs":         {"logs", false},
	"ReceiverLock": {"logs/receiver.lock", false},
	"Index":        {"index", false},
	"HostHealth":   {"host-health", false},
	"Releases":     {"releases", false},
	"Sessions":     {"dashboard-sessions.json", false},
	"FleetHealth":  {"fleet-health", false},
	"Alerts":       {"alerts.jsonl", false},
	"CA":           {"ca", false},
	"CACert":       {"ca/ca.crt", true},
	"CAKey":        {"ca/ca.key", true},
	"ServerCert":   {"ca/server.crt", true},
	"ServerKey":    {"ca/server.key", true},
	"Issued":       {"ca/issued.jsonl", true},
	"TrustLock":    {"ca/trust.lock", false},
	"Tokens":       {"tokens.json", true},
	"Revoked":      {"revoked.json", true},
	"Removed":      {"removed-hosts.json", true},
}

// paths calls every method of d that names one path.
func paths(d Dir) map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(d)
	for i := range v.NumMethod() {
		m := v.Type().Method(i)
		if m.Type.NumIn() == 1 && m.Type.NumOut() == 1 && m.Type.Out(0).Kind() == reflect.String {
			out[m.Name] = v.Method(i).Call(nil)[0].String()
		}
	}
	return out
}

// TestLayout pins every path under data_dir, and makes a path added later
// say whether it is trust: a backup must not silently leave one behind.
func TestLayout(t *testing.T) {
	root := filepath.FromSlash("/var/lib/cis490")
	d := Dir(root)
	trust := map[string]TrustFile{}
	for _, f := range d.TrustFiles() {
		trust[f.Path] = f
	}
	seen := map[string]string{}
	for name, got := range paths(d) {
		want, ok := layout[name]
		if !ok {
			t.Errorf("Dir.%s is not in this test's layout: add it, and if `ca backup` must carry it, to TrustFiles", name)
			continue
		}
		if w := filepath.Join(root, filepath.FromSlash(want.rel)); got != w {
			t.Errorf("Dir.%s = %s, want %s: data folders in the field have it there", name, got, w)
		}
		if !strings.HasPrefix(got, root+string(filepath.Separator)) {
			t.Errorf("Dir.%s = %s, not under %s", name, got, root)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("Dir.%s and Dir.%s are both %s", name, other, got)
		}
		seen[got] = name
		f, carried := trust[got]
		switch {
		case want.trust && !carried:
			t.Errorf("Dir.%s (%s) is a trust file but TrustFiles leaves it out: `ca backup` would lose it", name, got)
		case !want.trust && carried:
			t.Errorf("Dir.%s (%s) is in TrustFiles but is not trust", name, got)
		case carried && f.Name != want.rel:
			t.Errorf("Dir.%s's archive name = %q, want %q: old backups must still restore", name, f.Name, want.rel)
		}
	}
	for name := range layout {
		if _, ok := paths(d)[name]; !ok {
			t.Errorf("the layout names Dir.%s, which does not exist", name)
		}
	}
	if len(trust) != len(d.TrustFiles()) {
		t.Errorf("TrustFiles lists a file twice")
	}
	for p := range trust {
		if _, ok := seen[p]; !ok {
			t.Errorf("TrustFiles carries %s, which no method of Dir names", p)
		}
	}
}

// TestTrustFilesRequired: a backup without the CA is refused; one made
// before the first revocation or the first issue is not.
func TestTrustFilesRequired(t *testing.T) {
	d := Dir("/data")
	var required []string
	for _, f := range d.TrustFiles() {
		if f.Required {
			required = append(required, f.Name)
		}
	}
	if want := []string{"ca/ca.crt", "ca/ca.key"}; !slices.Equal(required, want) {
		t.Errorf("required trust files = %v, want %v", required, want)
	}
}
