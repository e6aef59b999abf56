package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/journal"
)

// TestSystemdJournalExactlyOnce: a lab host in a real systemd 252, set up
// by the real installer, ships its journal while messages are written with
// logger and systemd-cat, its shipper is SIGKILLed and restarted again and
// again, and the receiver (on this machine) is killed too. The stream must
// then hold every entry journalctl has, once, in order: byte for byte the
// lines of journalctl's own export, up to a last marker entry.
func TestSystemdJournalExactlyOnce(t *testing.T) {
	needSystemd(t)
	dir := t.TempDir()
	rp := newReceiverProc(t, dir)
	rp.initCA()
	rp.Start()
	admin := filepath.Join(dir, "admin")
	runCLI(t, "ca", "issue", "--config", rp.cfgPath, "--admin", "it-admin", "--out", admin)
	tok := runCLI(t, "token", "create", "--host", "lab-j", "--config", rp.cfgPath)

	c := bootContainer(t, nspawnRoot(t), binPath, true)
	// Restart at once after a kill, and send batches quickly: the test
	// wants many restarts while the writer runs.
	c.sh(`mkdir -p /etc/systemd/system/cis490-shipper.service.d && printf '[Unit]\nStartLimitIntervalSec=0\n[Service]\nRestartSec=200ms\n' > /etc/systemd/system/cis490-shipper.service.d/fast.conf && systemctl daemon-reload`)
	out, err := c.try("sh /src/deploy/install-lab-host.sh --binary /opt/cis490-test/cis490 --receiver "+rp.URL()+" --host lab-j", tok)
	if err != nil || !strings.Contains(out, "install-lab-host.sh: installed") {
		t.Fatalf("install-lab-host.sh: %v\n%s", err, out)
	}
	// Enrollment on a host with a journal ships it, and not rsyslog's copies.
	if cfg := c.sh("cat /etc/cis490/lab-host.toml"); !strings.Contains(cfg, "[[journal]]") || !strings.Contains(cfg, `exclude = ["auth.log"`) {
		t.Fatalf("the enrolled lab-host.toml does not ship the journal:\n%s", cfg)
	}
	c.sh(`printf '\n[batch]\nmax_wait = "300ms"\n' >> /etc/cis490/lab-host.toml && systemctl restart cis490-shipper.service`)
	waitActive(t, c, "cis490-shipper.service")
	shipperLog := func() string { return c.sh("journalctl -u cis490-shipper --no-pager | tail -40") }

	// The writer: both tools, a tab and a backslash in every tenth.
	c.sh(`systemd-run --unit=jwriter sh -c 'for i in $(seq 1 300); do logger -t jtest "logger $i"; echo "cat $i" | systemd-cat -t jtest-cat; if [ $((i % 10)) = 0 ]; then printf "odd\t\\\\ %d\n" $i | systemd-cat -t jtest-cat -p warning; fi; sleep 0.03; done'`)
	kills := 0
	for i := 0; ; i++ {
		time.Sleep(1200 * time.Millisecond)
		if st, _ := c.try("systemctl is-active jwriter", ""); strings.TrimSpace(st) != "active" && kills >= 4 {
			break
		}
		if i == 3 {
			rp.Kill()
			time.Sleep(1500 * time.Millisecond)
			rp.Start()
			continue
		}
		// MainPID is 0 while it restarts: kill -9 0 would kill this test.
		c.try(`pid=$(systemctl show -p MainPID --value cis490-shipper.service); [ "$pid" -gt 1 ] && kill -9 "$pid"`, "")
		kills++
	}
	c.sh("systemctl reset-failed cis490-shipper.service; systemctl start cis490-shipper.service; logger -t jtest END-MARK")

	// What journalctl has, formatted as the shipper does, up to the marker.
	export := c.sh("journalctl --system --boot --no-pager --output=export")
	var want bytes.Buffer
	p := journal.NewParser(strings.NewReader(export))
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("the END-MARK entry is not in journalctl's export")
		}
		if err != nil {
			t.Fatalf("journalctl's export: %v", err)
		}
		want.Write(journal.Line(e))
		if string(e.Message) == "END-MARK" && e.Identifier == "jtest" {
			break
		}
	}
	var got string
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, _ = tryCLI("", nil, "logs", "lab-j", "journal", "--admin", admin, "--receiver", rp.URL())
		if strings.Contains(got, "jtest[") && strings.Contains(got, ": END-MARK\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the marker never reached the receiver (%d bytes there):\n%s", len(got), shipperLog())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !strings.HasPrefix(got, want.String()) {
		t.Fatalf("the stream is not journalctl's entries once, in order: %s\nshipper:\n%s", firstLineDiff(want.String(), got), shipperLog())
	}
	// The writer's messages are all there: journalctl lost none either.
	if n, m := strings.Count(want.String(), "]: logger "), strings.Count(want.String(), "]: cat "); n != 300 || m != 300 {
		t.Errorf("journalctl has %d of the 300 logger and %d of the 300 systemd-cat messages", n, m)
	}
	if !strings.Contains(got, `odd\t\\ 10`) {
		t.Errorf("a tab and a backslash are not escaped in the stream")
	}
	// A shipper killed with SIGKILL leaves no journalctl behind.
	if n := strings.TrimSpace(c.sh(`n=0; for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = journalctl ] && n=$((n+1)); done; echo $n`)); n != "1" {
		t.Errorf("%s journalctl processes run after %d kills of the shipper, not 1", n, kills)
	}
	t.Logf("%d entries, %d bytes, identical after %d shipper kills and a receiver kill", strings.Count(want.String(), "\n"), want.Len(), kills)

	// Vacuumed while the shipper is stopped: journalctl 252, given the
	// cursor of an entry that is gone, starts at the oldest one left
	// without a word. The shipper counts the entries between by their
	// sequence numbers, logs it, tells the receiver's index, and goes on.
	c.sh("systemctl stop cis490-shipper.service")
	var cp struct{ Cursor string }
	if err := json.Unmarshal([]byte(c.sh("cat /var/lib/cis490/checkpoints/journal.json")), &cp); err != nil || cp.Cursor == "" {
		t.Fatalf("the journal checkpoint holds no cursor: %v", err)
	}
	c.sh(`for i in 1 2 3 4 5; do logger -t jtest "vacuumed $i"; done; sleep 0.3; journalctl --rotate; logger -t jtest "in the newest file"; sleep 0.3; journalctl --vacuum-files=1 >/dev/null 2>&1`)
	oldest := c.sh("journalctl --system --merge --no-pager --output=export | sed -n 's/^__CURSOR=//p' | head -n 1")
	_, savedN, ok1 := journal.Seqnum(cp.Cursor)
	_, oldestN, ok2 := journal.Seqnum(strings.TrimSpace(oldest))
	if !ok1 || !ok2 || oldestN <= savedN+1 {
		t.Fatalf("the vacuum did not remove entries after the saved cursor (saved %q, oldest left %q)", cp.Cursor, oldest)
	}
	lost := oldestN - savedN - 1
	c.sh("systemctl start cis490-shipper.service")
	deadline = time.Now().Add(60 * time.Second)
	for {
		got, _ = tryCLI("", nil, "logs", "lab-j", "journal", "--admin", admin, "--receiver", rp.URL())
		if strings.Contains(got, ": in the newest file\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the entries left after the vacuum never reached the receiver:\n%s", shipperLog())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if strings.Contains(got, "vacuumed 1\n") {
		t.Errorf("a vacuumed entry reached the receiver")
	}
	if log := c.sh("journalctl -u cis490-shipper --no-pager"); !strings.Contains(log, fmt.Sprintf("lost %d journal entries", lost)) {
		t.Errorf("the shipper did not say it lost %d entries:\n%s", lost, shipperLog())
	}
	eventually(t, 30*time.Second, func() string {
		if grepTree(filepath.Join(rp.dataDir, "index"), fmt.Sprintf(`"lost_entries":%d`, lost)) {
			return ""
		}
		return fmt.Sprintf("the receiver's index does not record %d lost entries", lost)
	})
	t.Logf("a vacuum took %d entries after the saved cursor: logged, indexed, and shipping went on", lost)
}

// firstLineDiff names the first line where got departs from want.
func firstLineDiff(want, got string) string {
	w, g := strings.SplitAfter(want, "\n"), strings.SplitAfter(got, "\n")
	for i := range w {
		if i >= len(g) {
			return fmt.Sprintf("the stream ends at line %d; next wanted %q", i+1, w[i])
		}
		if w[i] != g[i] {
			return fmt.Sprintf("line %d is %q, want %q (previous %q)", i+1, g[i], w[i], w[max(0, i-1)])
		}
	}
	return "no difference"
}
