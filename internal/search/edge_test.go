package search

import (
	"fmt"
	"slices"
	"testing"
)

// TestWordAfterAPartWord: a line whose first find of the needle is part of
// a longer word and whose second is whole is one hit, at the line's start,
// with the whole line — counted or not.
func TestWordAfterAPartWord(t *testing.T) {
	stream := []byte("pam: xsession then session opened\nnothing here\nsessions and session\nsessionx\n")
	want := []string{"0:pam: xsession then session opened", "47:sessions and session"}
	for _, q := range []Query{{Pattern: "session"}, {Pattern: "SESSION", IgnoreCase: true}} {
		m, err := Compile(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, count := range []bool{false, true} {
			var got []string
			s := NewScanner(m, func(h Hit) error {
				got = append(got, fmt.Sprintf("%d:%s", h.Offset, h.Line))
				return nil
			})
			s.Counting = count
			if err := s.Feed(0, stream); err != nil {
				t.Fatal(err)
			}
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			if count && len(got) != len(want) || !count && !slices.Equal(got, want) {
				t.Errorf("%+v, counting %v: %q; want %q", q, count, got, want)
			}
		}
	}
}
