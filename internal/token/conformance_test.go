package token_test

import (
	"path/filepath"
	"testing"

	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/token/tokentest"
)

// TestConformance holds the token file to token.State's promises, two
// sets over one file standing for the receiver and an admin command.
func TestConformance(t *testing.T) {
	tokentest.Run(t, func(t *testing.T) (token.State, token.State) {
		path := filepath.Join(t.TempDir(), "tokens.json")
		a, err := token.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := token.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	})
}
