package cli

import (
	"context"

	"github.com/cis490/cis490/internal/bench"
	"github.com/cis490/cis490/internal/search"
)

func runBenchSearch(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench search", "[--hosts 300] [--mib 1024] [--runs 3] [--rg PATH] [--backend local|pgs3|both] [--share F] [--versitygw PATH] [--dir D] [--keep]",
		`Writes a day of a fleet's syslog-like logs (HOSTS hosts, about MIB MiB, in
appends that cut lines anywhere, rare lines planted) into a real local store,
lets it build its search filters, then times cis490's search over it (in this
process) and ripgrep over the same segment files, for a rare word, a rare
phrase, a common word, a case-insensitive phrase and a regexp with a
literal: warm (median of RUNS) and, as root, cold (page cache dropped).
Prints the filters' size and build time, hits, time to the first hit,
bytes skipped and the search's heap growth. Then measures ingest into the
same store alone and while searching, paced to SHARE of a CPU (default:
the receiver's).

With --backend pgs3 the same logs go into a postgres+s3 backend instead
(a fresh PostgreSQL cluster and versitygw, started for the bench), whose
maintainer builds its filters, and the same searches run over it in this
process: warm, with every hit, first hit, bytes and blocks skipped, and
the GETs and bytes one search fetches from S3. With both, local then
postgres+s3, with postgres+s3's times against local's. ripgrep and ingest
are measured on local only.`)
	hosts := fs.Int("hosts", 300, "hosts in the fleet")
	mib := fs.Int64("mib", 1024, "about this many MiB of logs")
	runs := fs.Int("runs", 3, "warm runs per search")
	rg := fs.String("rg", "", "ripgrep (default: rg on PATH; none: skipped)")
	dir := fs.String("dir", "", "parent of the temporary folder (default $TMPDIR)")
	keep := fs.Bool("keep", false, "keep the temporary folder")
	backend := fs.String("backend", bench.SearchLocal, "local, pgs3 (postgres+s3) or both")
	share := fs.Float64("share", search.DefaultShare, "share of a CPU the searches take while ingest is measured")
	versitygw := fs.String("versitygw", "", "the versitygw binary for pgs3 (default: versitygw on PATH)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *hosts < 1 || *hosts > 100000:
		return usagef("--hosts %d: give 1 to 100000", *hosts)
	case *mib < 1 || *mib > 1<<20:
		return usagef("--mib %d: give 1 to 1048576", *mib)
	case *runs < 1 || *runs > 100:
		return usagef("--runs %d: give 1 to 100", *runs)
	case *share <= 0 || *share > 1:
		return usagef("--share %g: give a share of a CPU above 0, at most 1 (unpaced)", *share)
	case *backend != bench.SearchLocal && *backend != bench.SearchPGS3 && *backend != bench.SearchBoth:
		return usagef("--backend %q: give local, pgs3 or both", *backend)
	}
	rep, err := bench.RunSearch(ctx, bench.SearchOptions{Hosts: *hosts, Bytes: *mib << 20, Runs: *runs, RG: *rg, Dir: *dir, Keep: *keep,
		Backend: *backend, Share: *share, VersityGW: *versitygw, Progress: env.Stderr})
	if err != nil {
		return err
	}
	bench.FormatSearch(env.Stdout, rep)
	return nil
}
