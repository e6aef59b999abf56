package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/localsrv"
	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/search"
	"github.com/cis490/cis490/internal/store"
)

// PGS3Storage is a running PostgreSQL database and S3 bucket, both empty.
type PGS3Storage struct {
	DSN string
	S3  localsrv.S3
}

// PGSearchReport is what bench search measured on postgres+s3.
type PGSearchReport struct {
	DataBytes int64
	// Load is how long appending the generated fleet took, pgLoaders
	// streams' appends at once (each waiting for its batch's commit).
	Load time.Duration
	// Objects are the bucket's objects once loaded, and their bytes.
	Objects, ObjectBytes int64
	// FilterBuild is how long Maintain took until a pass built no more
	// filters (Passes passes); FilterBlocks filters of FilterBytes.
	FilterBuild               time.Duration
	Passes                    int
	FilterBlocks, FilterBytes int64
	Unfiltered                int64 // bytes no filter covers
	Queries                   []SearchQuery
}

// pgLoaders is how many appends are in flight while the fleet is loaded:
// as many hosts sending at once fill the batches (8 MiB) as a fleet does.
const pgLoaders = 32

// searchPGS3 loads the generated fleet into a postgres+s3 backend (its
// own PostgreSQL and versitygw in dir, unless opt.PGS3 names running
// ones), builds its filters as the receiver's maintainer does, and
// measures the searches over it, in this process.
func searchPGS3(ctx context.Context, opt SearchOptions, dir string) (*PGSearchReport, error) {
	srv := opt.PGS3
	s3PID := 0 // the S3 server's, when the bench started it
	if srv == nil {
		if os.Geteuid() == 0 {
			// PostgreSQL runs as nobody and its folder is inside this one.
			if err := os.Chmod(dir, 0o711); err != nil {
				return nil, fmt.Errorf("let PostgreSQL (nobody) into %s: %w", dir, err)
			}
		}
		fmt.Fprintf(opt.Progress, "starting PostgreSQL and versitygw in %s\n", dir)
		s, err := startPGS3(dir, opt.VersityGW)
		if err != nil {
			return nil, fmt.Errorf("start PostgreSQL and versitygw for postgres+s3: %w", err)
		}
		defer s.stop()
		srv = &PGS3Storage{DSN: s.DSN, S3: s.S3}
		for _, p := range s.parts {
			if p.Name == "s3" {
				s3PID = p.PID
			}
		}
	}
	log := slog.New(slog.NewTextHandler(opt.Progress, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s3 := pgs3.S3{Endpoint: srv.S3.Endpoint, Region: srv.S3.Region, Bucket: srv.S3.Bucket, AccessKey: srv.S3.AccessKey, SecretKey: srv.S3.SecretKey}
	// As the receiver opens it (receiverd.OpenShared), with no quotas.
	b, err := pgs3.Open(ctx, pgs3.Options{Postgres: srv.DSN, S3: s3, BuildFilter: search.FilterOf, Log: log})
	if err != nil {
		return nil, fmt.Errorf("open the postgres+s3 backend: %w", err)
	}
	defer b.Close()
	st := b.Streams()
	rep := &PGSearchReport{}

	fmt.Fprintf(opt.Progress, "appending the same %s into postgres+s3\n", human.Bytes(opt.Bytes))
	start := time.Now()
	if rep.DataBytes, err = loadPGFleet(ctx, st, opt); err != nil {
		return nil, err
	}
	rep.Load = time.Since(start)

	// The maintainer builds the filters of every stream's bytes old
	// enough: a day later, all of them.
	fmt.Fprintln(opt.Progress, "building postgres+s3's search filters (Maintain)")
	start = time.Now()
	later := fleetDay.Add(26 * time.Hour)
	for {
		m, err := b.Maintain(ctx, pgs3.Retention{}, later, time.Hour)
		if err != nil {
			return nil, fmt.Errorf("maintain postgres+s3 to build its search filters: %w", err)
		}
		if !m.Held {
			return nil, errors.New("maintain postgres+s3: another maintainer holds the lease of the bench's own database")
		}
		rep.Passes++
		if m.Filters == 0 {
			break
		}
	}
	rep.FilterBuild = time.Since(start)
	if err := pgStats(ctx, srv.DSN, rep); err != nil {
		return nil, err
	}

	// One more backend, whose GETs go through a proxy that counts them:
	// a counting search on it says what a search fetches, while the
	// timed ones talk to versitygw directly.
	counter, err := localsrv.StartS3Counter(srv.S3.Endpoint)
	if err != nil {
		return nil, err
	}
	defer counter.Close()
	counted := s3
	counted.Endpoint = counter.Endpoint
	cb, err := pgs3.Open(ctx, pgs3.Options{Postgres: srv.DSN, S3: counted, Log: log})
	if err != nil {
		return nil, fmt.Errorf("open the postgres+s3 backend through the counting proxy: %w", err)
	}
	defer cb.Close()

	for _, q := range searchQueries {
		fmt.Fprintf(opt.Progress, "searching postgres+s3: %s\n", q.name)
		m, err := search.Compile(q.q)
		if err != nil {
			return nil, err
		}
		sq := SearchQuery{Name: q.name}
		if err := measureQuery(ctx, st, m, opt.Runs, &sq); err != nil {
			return nil, fmt.Errorf("search postgres+s3 for the %s: %w", q.name, err)
		}
		gets, fetched := counter.GETs(), counter.Bytes()
		var s3CPU time.Duration
		if s3PID != 0 {
			s3CPU = TreeCPU(s3PID)
		}
		r, err := timeSearch(ctx, cb.Streams(), m, true)
		if err != nil {
			return nil, fmt.Errorf("search postgres+s3 for the %s through the counting proxy: %w", q.name, err)
		}
		if r.sum.Hits != sq.Hits {
			return nil, fmt.Errorf("postgres+s3: the %s found %d lines through the counting proxy, %d without", q.name, r.sum.Hits, sq.Hits)
		}
		sq.GETs, sq.Fetched = counter.GETs()-gets, counter.Bytes()-fetched
		if s3PID != 0 {
			sq.S3CPU = TreeCPU(s3PID) - s3CPU
		}
		rep.Queries = append(rep.Queries, sq)
	}
	return rep, nil
}

// loadPGFleet appends the generated fleet into st, each stream's appends
// in order and pgLoaders at once, stamped with their times of the day as
// cis490 migrate stamps what it copies (Import: no quota, no index line).
func loadPGFleet(ctx context.Context, st *pgs3.Streams, opt SearchOptions) (int64, error) {
	type put struct {
		k    store.Key
		off  int64
		at   time.Time
		data []byte
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	queues := make([]chan put, pgLoaders)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan put, 2)
		wg.Go(func() {
			for p := range queues[i] {
				if ctx.Err() != nil {
					continue // drain
				}
				if _, err := st.Import(ctx, p.k, p.off, store.Gen{}, p.at, p.data); err != nil {
					cancel(fmt.Errorf("append %s at %d into postgres+s3: %w", p.k, p.off, err))
				}
			}
		})
	}
	// A stream always goes to the same loader: its appends stay in order.
	loader := map[store.Key]int{}
	n, err := generateFleetLogs(ctx, opt, func(k store.Key, off int64, at time.Time, data []byte) error {
		i, ok := loader[k]
		if !ok {
			i = len(loader) % pgLoaders
			loader[k] = i
		}
		select {
		case queues[i] <- put{k, off, at, bytes.Clone(data)}:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if cerr := context.Cause(ctx); err == nil && cerr != nil {
		err = cerr
	}
	return n, err
}

// pgStats reads what the backend holds: its objects and its filters.
func pgStats(ctx context.Context, dsn string, rep *PGSearchReport) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL for the backend's sizes: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM objects WHERE live AND dropped IS NULL),
		(SELECT coalesce(sum(size), 0) FROM objects WHERE live AND dropped IS NULL),
		(SELECT count(*) FROM stream_filters) + (SELECT count(*) FROM stream_tails),
		(SELECT coalesce(sum(length(filter)), 0) FROM stream_filters) + (SELECT coalesce(sum(length(filter)), 0) FROM stream_tails),
		(SELECT coalesce(sum(length - filtered_to), 0) FROM streams s WHERE NOT EXISTS (SELECT FROM stream_tails t
			WHERE t.host = s.host AND t.stream = s.stream AND t.from_off = s.filtered_to AND t.to_off = s.length))`).
		Scan(&rep.Objects, &rep.ObjectBytes, &rep.FilterBlocks, &rep.FilterBytes, &rep.Unfiltered)
	if err != nil {
		return fmt.Errorf("read the postgres+s3 backend's sizes: %w", err)
	}
	return nil
}

// FormatPGSearch prints what bench search measured on postgres+s3, with
// each search's time against local's when local measured it too.
func FormatPGSearch(w io.Writer, r *SearchReport) {
	p := r.PG
	gib := float64(p.DataBytes) / (1 << 30)
	fmt.Fprintf(w, "postgres+s3 (PostgreSQL and versitygw on this machine, searched in this process): %d hosts, %s of logs (%.2f GiB) appended in %s, %d at once, into %d objects (%s); filters %s in %d blocks (%.1f %% of the data), built by Maintain in %s (%.1f s per GiB, %d passes), %s left unfiltered\n\n",
		r.Hosts, human.Bytes(p.DataBytes), gib, p.Load.Round(time.Second), pgLoaders, p.Objects, human.Bytes(p.ObjectBytes),
		human.Bytes(p.FilterBytes), p.FilterBlocks, 100*float64(p.FilterBytes)/float64(max(p.DataBytes, 1)),
		p.FilterBuild.Round(10*time.Millisecond), p.FilterBuild.Seconds()/gib, p.Passes, human.Bytes(p.Unfiltered))
	local := map[string]SearchQuery{}
	for _, q := range r.Queries {
		local[q.Name] = q
	}
	hits := "hits"
	if len(local) > 0 {
		hits = "hits (local)"
	}
	fmt.Fprintf(w, "| search | %s | pgs3 warm, counting | per GiB | with every hit | first hit | cold | skipped by filters | blocks skipped / read | S3 GETs | fetched from S3 | S3 server CPU a GET | heap growth | pgs3 / local (warm) |\n", hits)
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, q := range p.Queries {
		hits, ratio := fmt.Sprint(q.Hits), "–"
		if l, ok := local[q.Name]; ok {
			hits = fmt.Sprintf("%d (%d)", q.Hits, l.Hits)
			ratio = fmt.Sprintf("%.2f×", q.Warm.Seconds()/max(l.Warm.Seconds(), 1e-9))
		}
		perGET := "–"
		if q.S3CPU > 0 && q.GETs > 0 {
			perGET = fmt.Sprintf("%.2f ms", q.S3CPU.Seconds()*1000/float64(q.GETs))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | – | %.0f %% | %d / %d | %d | %s | %s | %s | %s |\n",
			q.Name, hits, millis(q.Warm), millis(time.Duration(float64(q.Warm)/gib)), millis(q.WithHits), millis(q.First),
			100*float64(q.Skipped)/float64(max(q.Skipped+q.Scanned, 1)), q.BlocksSkipped, q.BlocksScanned,
			q.GETs, human.Bytes(q.Fetched), perGET, human.Bytes(q.PeakMem), ratio)
	}
	fmt.Fprintln(w, "\n(cold is not measured on S3; the GETs, bytes and the S3 server's CPU (in ticks of 10 ms) are those of one counting search, through a proxy that counts them; ripgrep and ingest while searching are measured on local only)")
}
