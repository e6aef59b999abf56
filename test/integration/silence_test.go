package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSilenceThroughTheBinary: with the real receiver and the real
// `cis490 fleet-health`, a host an admin silenced with `cis490 silence
// add` still gets its alert line, marked, while the webhook is told of
// the host nobody silenced and of the muted host's other symptoms;
// `cis490 status` shows the silence and who set it.
func TestSilenceThroughTheBinary(t *testing.T) {
	var mu sync.Mutex
	var posts []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, string(b))
		mu.Unlock()
	}))
	defer hook.Close()

	f := newFleet(t, []string{"lab-muted", "lab-loud"}, true)
	f.rcv.extra = fmt.Sprintf("[fleet_health]\nsilent_after = \"3s\"\nsyslog = \"off\"\n[[fleet_health.notify]]\nkind = \"webhook\"\nurl = %q\n", hook.URL)
	f.rcv.writeConfig()
	f.rcv.Start()
	for _, h := range []string{"lab-muted", "lab-loud"} {
		if r := f.hosts[h].do(http.MethodPut, h, "syslog", "offset=0", strings.NewReader("a line\n"), 7); r.status != 201 {
			t.Fatalf("%s: %d %s", h, r.status, r.body)
		}
	}
	id := strings.TrimSpace(runCLI(t, "silence", "add", "--config", f.rcv.cfgPath, "--host", "lab-m*", "--symptom", "silent",
		"--for", "1h", "--reason", "being reimaged", "--by", "carol"))
	time.Sleep(3500 * time.Millisecond) // both go quiet
	runCLI(t, "fleet-health", "--config", f.rcv.cfgPath)
	runCLI(t, "fleet-health", "--config", f.rcv.cfgPath) // confirmed: the alerts fire

	fh, err := os.Open(filepath.Join(f.rcv.dataDir, "alerts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	marks := map[string]string{}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var a struct{ Host, Symptom, Silenced string }
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		marks[a.Host+" "+a.Symptom] = a.Silenced
	}
	if m, ok := marks["lab-muted silent"]; !ok || m != id {
		t.Errorf("lab-muted's silent line is marked %q (written: %v); want %q", m, ok, id)
	}
	if m, ok := marks["lab-loud silent"]; !ok || m != "" {
		t.Errorf("lab-loud's silent line is marked %q (written: %v); want it written, unmarked", m, ok)
	}
	// Only the silent symptom is silenced: lab-muted's other alerts
	// (unstamped: this test's requests carry no commit) still go out.
	mu.Lock()
	sent := map[string]bool{}
	for _, p := range posts {
		var a struct{ Host, Symptom string }
		json.Unmarshal([]byte(p), &a)
		sent[a.Host+" "+a.Symptom] = true
	}
	mu.Unlock()
	if !sent["lab-loud silent"] || sent["lab-muted silent"] || !sent["lab-muted unstamped"] {
		t.Errorf("the webhook got %v; want lab-loud's silent and lab-muted's unstamped, not lab-muted's silent", sent)
	}

	admin := filepath.Join(f.dir, "bundles", "admin")
	out := runCLI(t, "status", "--admin", admin, "--receiver", f.rcv.URL())
	if !strings.Contains(out, id+"  host=lab-m* symptom=silent") || !strings.Contains(out, "carol") || !strings.Contains(out, "being reimaged") {
		t.Errorf("status does not show the silence:\n%s", out)
	}
}
