package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const commit = "3333333333333333333333333333333333333333"

func binary(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	os.WriteFile(p, []byte(body), 0o755)
	return p
}

// TestSignVerify: a signed manifest verifies with its key and names each
// binary's hash; a tampered manifest, a tampered artifact and another key
// are refused.
func TestSignVerify(t *testing.T) {
	dir := t.TempDir()
	priv, pub, _ := KeyGen()
	_, otherPub, _ := KeyGen()
	amd := binary(t, dir, "cis490-linux-amd64", "amd64 binary")
	arm := binary(t, dir, "cis490-linux-armv7", "armv7 binary")
	signed, m, err := Sign(priv, "1.4.0", commit, 25, []string{amd, arm}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(pub, signed)
	if err != nil || got.Version != "1.4.0" || got.Rollout != 25 || got.Artifacts["linux-armv7"].Size != 12 || got.Artifacts["linux-amd64"] != m.Artifacts["linux-amd64"] {
		t.Fatalf("verify: %+v, %v", got, err)
	}
	if _, err := Verify(otherPub, signed); err == nil {
		t.Fatal("a manifest verified with another key")
	}
	var s Signed
	json.Unmarshal(signed, &s)
	payload, _ := base64.StdEncoding.DecodeString(s.Payload)
	s.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(payload, []byte(`"rollout":25`), []byte(`"rollout":99`), 1))
	tampered, _ := json.Marshal(s)
	if _, err := Verify(pub, tampered); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("a tampered manifest: %v", err)
	}
	check := func(body string) error {
		sum := sha256.Sum256([]byte(body))
		return got.Artifacts["linux-amd64"].Matches(int64(len(body)), sum[:])
	}
	if err := check("amd64 binary"); err != nil {
		t.Fatal(err)
	}
	if err := check("amd64 binarX"); err == nil {
		t.Fatal("a tampered artifact passed")
	}
	if err := check("amd64 binary!"); err == nil {
		t.Fatal("an artifact with a byte more passed")
	}
	if _, _, err := Sign(priv, "1.4", commit, 100, []string{amd}, time.Now()); err == nil {
		t.Fatal("a bad version was signed")
	}
	if _, _, err := Sign(priv, "1.4.1", commit, 100, []string{binary(t, dir, "cis490", "x")}, time.Now()); err == nil {
		t.Fatal("a binary without its platform in the name was signed")
	}
	if !Newer("1.10.0", "1.9.9") || Newer("1.4.0", "1.4.0") || Newer("0.9.0", "1.0.0") {
		t.Fatal("version order")
	}
}
