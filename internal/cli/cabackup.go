package cli

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/vfs"
)

func runCABackup(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "ca backup", "--out FILE.tar.gz [--config receiver.toml]",
		`Writes what the fleet's trust rests on — the CA and its key, the receiver's
certificate, the CA's ledger, the token hashes and the revocation list — into
one archive (mode 0600: it holds the CA's key; keep it offline). `+"`ca restore`"+`
puts it into a fresh receiver's data_dir, and every host keeps talking to it.`)
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file")
	out := fs.String("out", "", "the archive to write")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("give --out FILE.tar.gz")
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	// The files are read as data_dir's owner (a link the receiver's user
	// planted leads nowhere root's rights would), the archive written as
	// whoever runs this; the files are small.
	type file struct {
		name string
		b    []byte
	}
	var files []file
	err = vfs.AsOwnerOf(cfg.DataDir, func() error {
		for _, tf := range datadir.Dir(cfg.DataDir).TrustFiles() {
			b, err := os.ReadFile(tf.Path)
			if errors.Is(err, os.ErrNotExist) && !tf.Required {
				continue // not made yet (no revocation, no ledger)
			}
			if err != nil {
				return fmt.Errorf("back up %s: %w", tf.Name, err)
			}
			files = append(files, file{tf.Name, b})
		}
		return nil
	})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write the backup: %w", err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	n := 0
	for _, tf := range files {
		if err := tw.WriteHeader(&tar.Header{Name: tf.name, Mode: 0o600, Size: int64(len(tf.b)), ModTime: time.Now()}); err != nil {
			f.Close()
			os.Remove(*out)
			return err
		}
		if _, err := tw.Write(tf.b); err != nil {
			f.Close()
			os.Remove(*out)
			return err
		}
		n++
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "backed up %d files of %s to %s (it holds the CA's key: keep it offline)\n", n, cfg.DataDir, *out)
	return nil
}

func runCARestore(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "ca restore", "--from FILE.tar.gz [--config receiver.toml]",
		`Puts a `+"`ca backup`"+` into this receiver's data_dir (before it first starts). It
refuses to replace an existing CA: hosts trust the one they were given.`)
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file")
	from := fs.String("from", "", "the archive that ca backup wrote")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *from == "" {
		return usagef("give --from FILE.tar.gz")
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	data := datadir.Dir(cfg.DataDir)
	f, err := os.Open(*from)
	if err != nil {
		return err
	}
	defer f.Close()
	// The archive is read as whoever runs this; data_dir is written as its
	// owner, so the receiver can read what is restored and a planted link
	// leads nowhere.
	n := 0
	err = vfs.AsOwnerOf(cfg.DataDir, func() (err error) {
		n, err = restoreTrust(data, f, *from)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "restored %d files into %s\n", n, cfg.DataDir)
	return nil
}

// restoreTrust writes the trust files of the archive r (named from) into
// data, refusing anything else and an existing CA.
func restoreTrust(data datadir.Dir, r io.Reader, from string) (int, error) {
	if pki.Exists(data.CA()) {
		return 0, fmt.Errorf("%s already has a CA; restore into a fresh data_dir", data)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return 0, fmt.Errorf("%s is not a ca backup: %w", from, err)
	}
	tr := tar.NewReader(zr)
	// An archive names its files relative to data_dir; only trust files
	// are let in, each to its own place.
	dsts := map[string]string{}
	for _, tf := range data.TrustFiles() {
		dsts[tf.Name] = tf.Path
	}
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s is not a ca backup: %w", from, err)
		}
		dst, ok := dsts[h.Name]
		if !ok || h.Size > 64<<20 {
			return n, fmt.Errorf("%s holds %q, which is not part of a ca backup; nothing more restored", from, h.Name)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return n, err
		}
		b, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil {
			return n, err
		}
		if err := vfs.WriteFileAtomic(vfs.OS{}, dst, b, 0o600); err != nil {
			return n, err
		}
		n++
	}
}
