package token

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	set, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := set.Add(KindHost, "lab-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// 256 random bits, URL-safe, never stored.
	if len(strings.TrimPrefix(a, prefix)) != 43 {
		t.Fatalf("token %q is not 256 bits in base64url", a)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), strings.TrimPrefix(a, prefix)) {
		t.Fatal("the token file holds the token itself, not only its hash")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
	}
	// Made after the set was loaded: found at once, without a restart.
	if e, ok := set.Lookup(a); !ok || e.Kind != KindHost || e.Name != "lab-1" {
		t.Fatalf("Lookup(new token) = %+v, %v", e, ok)
	}
	b, _ := set.Add(KindAdmin, "alice", time.Now())
	if e, ok := set.Lookup(b); !ok || e.Kind != KindAdmin {
		t.Fatalf("Lookup(admin token) = %+v, %v", e, ok)
	}
	if a == b {
		t.Fatal("two tokens are equal")
	}
	for _, bad := range []string{"", "c490_", a + "x", a[:len(a)-1], strings.ToUpper(a), "Bearer " + a, strings.TrimPrefix(a, prefix)} {
		if _, ok := set.Lookup(bad); ok {
			t.Errorf("Lookup(%q) matched", bad)
		}
	}

	// A revoked token stops working within a second (the file is re-read
	// at most once a second on a hit).
	var f file
	raw, _ = os.ReadFile(path)
	json.Unmarshal(raw, &f)
	for i := range f.Tokens {
		if f.Tokens[i].Name == "lab-1" {
			f.Tokens[i].Revoked = true
		}
	}
	out, _ := json.Marshal(f)
	os.WriteFile(path, out, 0o600)
	time.Sleep(1100 * time.Millisecond)
	if _, ok := set.Lookup(a); ok {
		t.Fatal("a revoked token still works")
	}
	if _, ok := set.Lookup(b); !ok {
		t.Fatal("revoking one token broke another")
	}

	// A corrupt file keeps the last good set rather than locking everyone out.
	os.WriteFile(path, []byte("{not json"), 0o600)
	time.Sleep(1100 * time.Millisecond)
	if _, ok := set.Lookup(b); !ok {
		t.Fatal("a corrupt token file locked out a valid token")
	}
}

// TestJoinTokensPruned: a join token expired a week ago leaves the file
// when the next one is made; one expired lately still says "expired".
func TestJoinTokensPruned(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	now := time.Now()
	long, _ := Files(p).AddJoin(strings.Repeat("ab", 32), "lab-1", 1, now.Add(-8*24*time.Hour), now.Add(-9*24*time.Hour))
	lately, _ := Files(p).AddJoin(strings.Repeat("ab", 32), "lab-2", 1, now.Add(-time.Hour), now.Add(-2*time.Hour))
	if _, err := Files(p).AddJoin(strings.Repeat("ab", 32), "lab-3", 1, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	f, _ := readFile(p)
	if len(f.Tokens) != 2 {
		t.Fatalf("%d tokens kept; want 2 (the one expired a week ago dropped)", len(f.Tokens))
	}
	if err := Files(p).ConsumeJoin(long, "lab-1", now); !errors.Is(err, ErrJoinUnknown) {
		t.Fatalf("the pruned token: %v", err)
	}
	if err := Files(p).ConsumeJoin(lately, "lab-2", now); !errors.Is(err, ErrJoinExpired) {
		t.Fatalf("the token expired lately: %v", err)
	}
}
