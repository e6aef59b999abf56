package fleethealth

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/index"
)

// TestKnownKeysMatchTheIndex: the fast parser's two lists of index keys
// (knownKeys for the case-folding check, kindOf's switch for speed) name
// exactly index.Line's JSON keys, so a field added to the index is not
// silently dropped or mis-typed by the detector.
func TestKnownKeysMatchTheIndex(t *testing.T) {
	want := []string{"ts"} // written by index.Line's MarshalJSON
	typ := reflect.TypeFor[index.Line]()
	for i := range typ.NumField() {
		if name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			want = append(want, name)
		}
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(knownKeys))
	if !slices.Equal(got, want) {
		t.Fatalf("knownKeys %v; index.Line has %v", got, want)
	}
	for _, k := range want {
		if kind, err := kindOf([]byte(k)); kind == 0 || err != nil {
			t.Errorf("kindOf(%q) = %q, %v; the fast parser would skip it", k, kind, err)
		}
	}
}
