package statetest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/release"
)

const amd64 = "cis490-linux-amd64"

// errBroken is an upload cut midway.
var errBroken = errors.New("the upload broke")

// broken reads n bytes, then fails.
func broken(n int) io.Reader {
	return io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("x"), n)), iotestErr{})
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errBroken }

// Releases holds a release.Store to its promises (it verifies nothing:
// release.Shelf does).
func Releases(t *testing.T, open Opener[release.Store]) {
	t.Run("empty", func(t *testing.T) {
		a, _ := open(t)
		versions(t, a)
		if _, _, err := a.Open("1.4.0", release.ManifestFile); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open of a release never stored: %v; want fs.ErrNotExist", err)
		}
	})
	t.Run("a release exists once its manifest is stored", func(t *testing.T) {
		a, b := open(t)
		put(t, a, "1.4.0", amd64, "binary")
		versions(t, b)
		read(t, b, "1.4.0", amd64, "binary")
		put(t, a, "1.4.0", release.ManifestFile, "manifest")
		put(t, a, "1.5.0", amd64, "newer binary, no manifest yet")
		versions(t, b, "1.4.0")
		read(t, b, "1.4.0", release.ManifestFile, "manifest")
	})
	t.Run("replaced whole", func(t *testing.T) {
		a, b := open(t)
		put(t, a, "1.4.0", amd64, "old binary, longer")
		put(t, a, "1.4.0", amd64, "new binary")
		read(t, b, "1.4.0", amd64, "new binary")
	})
	t.Run("a reader gets one whole file while it is replaced", func(t *testing.T) {
		a, b := open(t)
		bodies := []string{strings.Repeat("a", 300<<10), strings.Repeat("b", 200<<10+7)}
		put(t, a, "1.4.0", amd64, bodies[0])
		stop := meanwhile(t, 1, func(_, i int) error { return a.Put("1.4.0", amd64, strings.NewReader(bodies[(i+1)%2])) })
		reads := 0
		for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline) && !t.Failed(); reads++ {
			r, size, err := b.Open("1.4.0", amd64)
			if err != nil {
				t.Error(err)
				break
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || int64(len(got)) != size || !slices.Contains(bodies, string(got)) {
				t.Errorf("read %d bytes (size %d), %v: no file written (torn or mixed)", len(got), size, err)
			}
		}
		stop()
		if reads < 5 {
			t.Errorf("only %d reads", reads)
		}
	})
	t.Run("a binary of several MiB", func(t *testing.T) {
		a, b := open(t)
		big := bytes.Repeat([]byte("0123456789abcdef"), 6<<20/16+3)
		put(t, a, "1.4.0", amd64, string(big))
		read(t, b, "1.4.0", amd64, string(big))
	})
	for _, tc := range []struct {
		name, file, before string // before: "" for none stored
	}{
		{"an interrupted upload of a new manifest stores nothing", release.ManifestFile, ""},
		{"an interrupted upload of a new binary stores nothing", amd64, ""},
		{"an interrupted upload keeps the file it would replace", amd64, "the old binary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			if tc.before != "" {
				put(t, a, "1.4.0", tc.file, tc.before)
			}
			if err := a.Put("1.4.0", tc.file, broken(1<<20)); !errors.Is(err, errBroken) {
				t.Fatalf("Put from a reader that failed: %v; want its error", err)
			}
			if tc.before == "" {
				if _, _, err := b.Open("1.4.0", tc.file); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Open after the interrupted upload: %v; want fs.ErrNotExist", err)
				}
				versions(t, b)
				return
			}
			read(t, b, "1.4.0", tc.file, tc.before)
		})
	}
	t.Run("names that are not a release's", func(t *testing.T) {
		a, _ := open(t)
		for _, n := range []struct{ version, file string }{
			{"1.4", amd64}, {"../1.4.0", amd64}, {"1.4.0/..", amd64}, {"", amd64},
			{"1.4.0", "cis490-windows-amd64"}, {"1.4.0", "../" + amd64}, {"1.4.0", amd64 + "/x"}, {"1.4.0", ""},
		} {
			if err := a.Put(n.version, n.file, bytes.NewReader([]byte("x"))); err == nil {
				t.Errorf("Put(%q, %q) stored a file that is not a release's", n.version, n.file)
			}
			if _, _, err := a.Open(n.version, n.file); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Open(%q, %q): %v; want fs.ErrNotExist", n.version, n.file, err)
			}
		}
		versions(t, a)
	})
}

func put(t *testing.T, s release.Store, version, file, body string) {
	t.Helper()
	if err := s.Put(version, file, bytes.NewReader([]byte(body))); err != nil {
		t.Fatalf("Put(%s, %s): %v", version, file, err)
	}
}

func read(t *testing.T, s release.Store, version, file, want string) {
	t.Helper()
	r, size, err := s.Open(version, file)
	if err != nil {
		t.Fatalf("Open(%s, %s): %v", version, file, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil || string(b) != want || size != int64(len(want)) {
		t.Fatalf("Open(%s, %s): %d bytes (size %d), %v; want %d bytes", version, file, len(b), size, err, len(want))
	}
}

// versions checks the listed versions, in any order; nothing ever
// published may also be an error matching fs.ErrNotExist.
func versions(t *testing.T, s release.Store, want ...string) {
	t.Helper()
	got, err := s.Versions()
	if len(want) == 0 && errors.Is(err, fs.ErrNotExist) {
		return
	}
	slices.Sort(got)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Versions = %v, %v; want %v", got, err, want)
	}
}
