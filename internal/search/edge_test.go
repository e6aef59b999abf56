package search

import (
	"fmt"
	"slices"
	"testing"
)

// TestWordAfterAPartWord: a line whose first find of the needle is part of
// a longer word and whose second is whole is one hit, at the line's start,
// with the whole line.
func TestWordAfterAPartWord(t *testing.T) {
	stream := []byte("pam: xsession then session opened\nnothing here\nsessions and session\nsessionx\n")
	want := []string{"0:pam: xsession then session opened", "47:sessions and session"}
	for _, q := range []Query{{Pattern: "session"}, {Pattern: "SESSION", IgnoreCase: true}} {
		m, err := Compile(q)
		if err != nil {
			t.Fatal(err)
		}
		{
			var got []string
			s := NewScanner(m, func(h Hit) error {
				got = append(got, fmt.Sprintf("%d:%s", h.Offset, h.Line))
				return nil
			})
			if err := s.Feed(0, stream); err != nil {
				t.Fatal(err)
			}
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%+v: %q; want %q", q, got, want)
			}
		}
	}
}
