package pgs3_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/statetest"
)

// pair is two receivers' backends on one fresh database and bucket.
func pair(t *testing.T) (*pgs3.Backend, *pgs3.Backend) {
	t.Helper()
	dsn, s3 := servers(t)
	opt := pgs3.Options{Postgres: dsn, S3: s3Of(s3)}
	return open(t, opt), open(t, opt)
}

// TestState holds the small state to the promises the files under
// data_dir keep, every write made through one receiver and read through
// another.
func TestState(t *testing.T) {
	statetest.Run(t, func(t *testing.T) (statetest.State, statetest.State) {
		a, b := pair(t)
		return state(a), state(b)
	})
}

func state(b *pgs3.Backend) statetest.State {
	return statetest.State{HostHealth: b.HostHealth(), Releases: b.Releases(), Sessions: b.Sessions(), Removals: b.Removals()}
}

// TestHostHealthBounded: a snapshot larger than a host may send never
// reaches the shared database, and nothing is stored under a name that is
// not a host's.
func TestHostHealthBounded(t *testing.T) {
	a, _ := pair(t)
	h := a.HostHealth()
	if err := h.Write("lab-1", bytes.Repeat([]byte("a"), hosthealth.MaxSize+1), time.Now()); err == nil {
		t.Fatal("a snapshot over MaxSize was stored")
	}
	if ents, err := h.List(); err != nil || len(ents) != 0 {
		t.Fatalf("List = %v, %v; want none", ents, err)
	}
	if err := a.Removals().Mark("Not A Host", time.Now()); err == nil {
		t.Fatal("a name that is not a host's was marked removed")
	}
}

// TestReleaseObjectsCollected: the collector deletes the object a
// replaced release file left, and never one a release still points at;
// an interrupted upload left no object at all.
func TestReleaseObjectsCollected(t *testing.T) {
	a, b := pair(t)
	rel := a.Releases()
	for _, body := range []string{"first binary", "second binary"} {
		if err := rel.Put("1.4.0", "cis490-linux-amd64", strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rel.Put("1.4.0", release.ManifestFile, io.MultiReader(strings.NewReader("{"), failing{})); err == nil {
		t.Fatal("an interrupted upload was stored")
	}
	// Within the grace a download of the replaced file may still be
	// reading it: nothing goes.
	if n, err := b.Collect(t.Context(), time.Now()); err != nil || n != 0 {
		t.Fatalf("Collect at once deleted %d objects, %v; want none", n, err)
	}
	if n, err := b.Collect(t.Context(), time.Now().Add(2*pgs3.OrphanAge)); err != nil || n != 1 {
		t.Fatalf("Collect after the grace deleted %d objects, %v; want the replaced one", n, err)
	}
	r, _, err := b.Releases().Open("1.4.0", "cis490-linux-amd64")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := io.ReadAll(r); err != nil || string(got) != "second binary" {
		t.Fatalf("after Collect: %q, %v", got, err)
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("cut") }
