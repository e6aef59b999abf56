package cli

import (
	"context"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/migrate"
	"github.com/cis490/cis490/internal/receiverd"
)

func runMigrate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "migrate", "[--config receiver.toml]",
		`Copies the local data folder (data_dir: streams, index, tokens, the CA's
ledger and revocations, doctor snapshots, releases, removed hosts, the
detector's state, silences and alerts) into the postgres+s3 backend that
[storage] names, then verifies every stream's start, length, generation
and bytes (SHA-256), each day's index line count, and that the backend
holds the folder's state. Dashboard sessions are not copied: admins log in
again. Stop the receiver first: it refuses while one holds the folder. It
never changes the folder, and an interrupted run resumes where it stopped.
Exit 0 when everything was copied and verified; 1 otherwise.`)
	path := fs.String("config", config.DefaultReceiverPath, "receiver config: data_dir is the source, [storage] the destination")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	if !cfg.Storage.Shared() {
		return usagef("%s says [storage] backend = %q; set backend = \"postgres+s3\" and its [storage.postgres] and [storage.s3] to migrate into them", *path, cfg.Storage.Backend)
	}
	b, err := receiverd.OpenShared(ctx, cfg, env.Log)
	if err != nil {
		return err
	}
	defer b.Close()
	_, err = migrate.Run(ctx, migrate.Options{DataDir: cfg.DataDir, Backend: b, Out: env.Stdout, Log: env.Log})
	return err
}
