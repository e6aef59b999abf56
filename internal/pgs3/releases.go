package pgs3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/release"
)

// Releases is release.Store over the backend, so that every receiver
// serves and gates on the same releases: which files each version has
// and their sizes are rows in PostgreSQL, their bytes objects in the
// bucket. Each Put uploads a new create-only object and then points the
// file's row at it in one transaction, so a reader gets the old bytes or
// the new, never part of a file. The object a Put replaced is marked
// dropped in that transaction and Collect deletes it OrphanAge later, once
// no download can still be reading it; an object whose Put never
// committed is an orphan Collect deletes too.
func (b *Backend) Releases() release.Store { return releases{b} }

type releases struct{ b *Backend }

var _ release.Store = releases{}

// releaseLock is the class of the advisory locks that serialise Puts of
// one release file, so each knows the object it replaces.
const releaseLock = 0x63693439

// Versions lists the versions whose manifest is stored: a release exists
// once its manifest is.
func (r releases) Versions() ([]string, error) {
	ctx, cancel := r.b.call()
	defer cancel()
	rows, err := r.b.pool.Query(ctx, `SELECT version FROM release_files WHERE file = $1`, release.ManifestFile)
	if err != nil {
		return nil, fmt.Errorf("list the releases in PostgreSQL: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the releases in PostgreSQL: %w", err)
	}
	return out, nil
}

// Open finds the file's object and streams it; the body's context ends
// when it is closed or after transferTimeout.
func (r releases) Open(version, file string) (io.ReadCloser, int64, error) {
	if !release.ValidVersion(version) || !release.ValidFile(file) {
		return nil, 0, fs.ErrNotExist
	}
	ctx, cancel := context.WithTimeout(r.b.life, transferTimeout)
	name, size, err := r.row(ctx, version, file)
	if err != nil {
		cancel()
		return nil, 0, err
	}
	body, err := r.b.obj.open(ctx, name)
	if err != nil {
		cancel()
		return nil, 0, fmt.Errorf("open %s of release %s: %w", file, version, err)
	}
	return &cancelOnClose{ReadCloser: body, cancel: cancel}, size, nil
}

// row is the object holding a release file and its size.
func (r releases) row(ctx context.Context, version, file string) (string, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var name string
	var size int64
	err := r.b.pool.QueryRow(ctx, `SELECT object, size FROM release_files WHERE version = $1 AND file = $2`, version, file).Scan(&name, &size)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, fmt.Errorf("release %s has no %s: %w", version, file, fs.ErrNotExist)
	}
	if err != nil {
		return "", 0, fmt.Errorf("find %s of release %s in PostgreSQL: %w", file, version, err)
	}
	return name, size, nil
}

// Put spools src to a temporary file first (a binary need not fit in
// memory, and an error src returns midway then stores nothing at all),
// uploads it as a new object and swaps the file's row to it.
func (r releases) Put(version, file string, src io.Reader) error {
	if !release.ValidVersion(version) || !release.ValidFile(file) {
		return fmt.Errorf("store %q of release %q: not a release file", file, version)
	}
	tmp, err := os.CreateTemp("", "cis490-release-*")
	if err != nil {
		return fmt.Errorf("spool %s of release %s: %w", file, version, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	size, err := io.Copy(tmp, src)
	if err != nil {
		return fmt.Errorf("read %s of release %s: %w", file, version, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool %s of release %s: %w", file, version, err)
	}
	ctx, cancel := context.WithTimeout(r.b.life, transferTimeout)
	defer cancel()
	var rnd [12]byte
	rand.Read(rnd[:])
	name := "r/" + version + "/" + file + "/" + hex.EncodeToString(rnd[:])
	if err := r.b.obj.createFrom(ctx, name, tmp, size); err != nil {
		return fmt.Errorf("store %s of release %s in the bucket: %w", file, version, err)
	}
	// On failure the object is left to Collect: after a commit whose
	// answer was lost it may be live.
	if err := r.swap(ctx, version, file, name, size); err != nil {
		return fmt.Errorf("record %s of release %s in PostgreSQL: %w", file, version, err)
	}
	return nil
}

// swap points the file's row at the new object in one transaction and
// marks the object it replaced dropped, for Collect.
func (r releases) swap(ctx context.Context, version, file, name string, size int64) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	tx, err := r.b.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(releaseLock), version+"/"+file); err != nil {
		return err
	}
	// Fails if Collect took the object for an orphan first.
	if _, err := tx.Exec(ctx, `INSERT INTO objects (name, size, live) VALUES ($1, $2, true)`, name, size); err != nil {
		return err
	}
	var old string
	err = tx.QueryRow(ctx, `SELECT object FROM release_files WHERE version = $1 AND file = $2`, version, file).Scan(&old)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO release_files (version, file, object, size) VALUES ($1, $2, $3, $4)
		ON CONFLICT (version, file) DO UPDATE SET object = excluded.object, size = excluded.size`, version, file, name, size); err != nil {
		return err
	}
	if old != "" {
		if _, err := tx.Exec(ctx, `UPDATE objects SET dropped = $2 WHERE name = $1`, old, r.b.opt.Now()); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// cancelOnClose ends a download's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// open streams the whole of name; a missing object is an error matching
// fs.ErrNotExist.
func (o *objects) open(ctx context.Context, name string) (io.ReadCloser, error) {
	out, err := o.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &o.bucket, Key: aws.String(o.prefix + name)})
	if status(err) == http.StatusNotFound {
		return nil, fmt.Errorf("get object %s: %w", name, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("get object %s: %w", name, err)
	}
	return out.Body, nil
}
