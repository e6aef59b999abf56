package pki

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSwapPairCrash: a crash between the two renames leaves the new key
// beside the old certificate; the next load finishes the swap, so the
// pair always matches.
func TestSwapPairCrash(t *testing.T) {
	dir := t.TempDir()
	ca, err := Init(filepath.Join(dir, "ca"), []string{"r"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "host.crt"), filepath.Join(dir, "host.key")
	c1, k1, _ := ca.IssueHost("lab-1", time.Hour, time.Now())
	os.WriteFile(certPath, c1, 0o644)
	os.WriteFile(keyPath, k1, 0o600)
	c2, k2, _ := ca.IssueHost("lab-1", time.Hour, time.Now())
	// The crash: both written, only the key renamed.
	os.WriteFile(keyPath+".next", k2, 0o600)
	os.WriteFile(certPath+".next", c2, 0o644)
	os.Rename(keyPath+".next", keyPath)
	if _, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		t.Fatal("the test did not make a mismatched pair")
	}
	// A reader that may not write there still gets the pair as it will be.
	if pair, err := LoadPair(certPath, keyPath); err != nil {
		t.Fatalf("LoadPair before CompletePair: %v", err)
	} else if leaf, _ := ParseCertPEM(c2); string(pair.Certificate[0]) != string(leaf.Raw) {
		t.Fatal("LoadPair did not take the new certificate waiting beside the new key")
	}
	if err := CompletePair(certPath, keyPath); err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
		t.Fatalf("after CompletePair: %v", err)
	}
	// A crash before the key was renamed: the old pair stands.
	c3, k3, _ := ca.IssueHost("lab-1", time.Hour, time.Now())
	os.WriteFile(keyPath+".next", k3, 0o600)
	os.WriteFile(certPath+".next", c3, 0o644)
	if pair, err := LoadPair(certPath, keyPath); err != nil {
		t.Fatalf("LoadPair with a stray new certificate: %v", err)
	} else if leaf, _ := ParseCertPEM(c2); string(pair.Certificate[0]) != string(leaf.Raw) {
		t.Fatal("LoadPair took a certificate whose key was never swapped")
	}
	if err := CompletePair(certPath, keyPath); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(certPath); string(got) != string(c2) {
		t.Fatal("a certificate whose key was never swapped took the place of the pair")
	}
	if err := SwapPair(certPath, keyPath, c3, k1); err == nil {
		t.Fatal("SwapPair took a key and a certificate that do not pair")
	}
}

// TestIssuedLedgerTornLine: a torn line (a crash mid-append) hides no
// later certificate from a revocation.
func TestIssuedLedgerTornLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "issued.jsonl")
	Record(p, Issued{Serial: "a1", Kind: "host", Name: "lab-1"})
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"serial":"b2","kind":"ho`)
	f.Close()
	Record(p, Issued{Serial: "c3", Kind: "host", Name: "lab-1"})
	got, err := IssuedTo(p, "lab-1")
	if err != nil || len(got) != 2 || got[0].Serial != "a1" || got[1].Serial != "c3" {
		t.Fatalf("ledger read %v, %v; want a1 and c3", got, err)
	}
}

// TestCorruptRevocationsFailClosed: a revocation list that cannot be read
// stops the receiver from starting rather than forgetting revocations.
func TestCorruptRevocationsFailClosed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "revoked.json")
	os.WriteFile(p, []byte("{\"revoked\":[{\"serial\":"), 0o640)
	if _, err := OpenRevocations(p); err == nil {
		t.Fatal("a corrupt revocation list was accepted")
	}
}

// TestInitNeverReplacesACA: a CA certificate alone (its key kept off the
// receiver) is the fleet's trust root too; Init refuses to make another.
func TestInitNeverReplacesACA(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir, []string{"r"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, CACertFile))
	os.Remove(filepath.Join(dir, CAKeyFile))
	if _, err := Init(dir, []string{"r"}, time.Now()); !errors.Is(err, ErrCAExists) {
		t.Fatalf("Init over a CA certificate without its key: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, CACertFile)); string(after) != string(before) {
		t.Fatal("the CA certificate was replaced")
	}
}
