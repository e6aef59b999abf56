package pgs3

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaLock is the advisory lock key receivers take while they create or
// upgrade the schema, so two starting at once do not race.
const schemaLock = 0x6369733439300001

// migrations are applied in order, each once; the schema's version is the
// number applied. Never edit one that has shipped: append another.
var migrations = []string{
	// 1: streams and their bytes' extents, quotas, objects, index lines.
	`
CREATE TABLE streams (
	host      text   NOT NULL,
	stream    text   NOT NULL,
	start     bigint NOT NULL DEFAULT 0,
	length    bigint NOT NULL DEFAULT 0,
	gen       text   NOT NULL DEFAULT '',
	gen_start bigint NOT NULL DEFAULT 0,
	updated   bigint NOT NULL DEFAULT 0, -- unix ns of the last append
	PRIMARY KEY (host, stream)
);
-- One row per append: where its bytes are (an object and a position in
-- it) and when they came (the time→offset map).
CREATE TABLE extents (
	host      text   NOT NULL,
	stream    text   NOT NULL,
	off       bigint NOT NULL,
	n         bigint NOT NULL,
	object    text   NOT NULL,
	pos       bigint NOT NULL,
	t         bigint NOT NULL,
	gen       text   NOT NULL,
	gen_start bigint NOT NULL,
	PRIMARY KEY (host, stream, off)
);
CREATE INDEX extents_object ON extents (object);
CREATE TABLE hosts (
	host    text   PRIMARY KEY,
	held    bigint NOT NULL DEFAULT 0, -- bytes held: sum of length - start
	streams int    NOT NULL DEFAULT 0
);
CREATE TABLE host_days (
	host    text   NOT NULL,
	day     bigint NOT NULL, -- unix day (UTC)
	bytes   bigint NOT NULL DEFAULT 0,
	appends bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (host, day)
);
-- An object is live once a batch's transaction inserted its row, dead once
-- the collector did: whoever inserts first wins, so a batch whose object
-- was collected can never commit extents pointing into it.
CREATE TABLE objects (
	name    text        PRIMARY KEY,
	size    bigint      NOT NULL,
	live    boolean     NOT NULL,
	created timestamptz NOT NULL DEFAULT now()
);
-- Index lines: seq orders the lines of one transaction, xid (the writing
-- transaction) bounds a reader by the snapshot horizon, since sequences
-- commit out of order.
CREATE TABLE index_lines (
	seq  bigserial   PRIMARY KEY,
	xid  xid8        NOT NULL DEFAULT pg_current_xact_id(),
	ts   timestamptz NOT NULL,
	line text        NOT NULL
);
CREATE INDEX index_lines_xid ON index_lines (xid, seq);
CREATE INDEX index_lines_ts ON index_lines (ts);
CREATE INDEX extents_time ON extents (host, stream, t);

-- cis490_append puts one append's bytes at p_off of a stream, as the local
-- store's Begin does, in one round trip: it locks the stream's row (made
-- if new, removed again if refused), checks the offset and the quotas, and
-- records the extent. An offset inside the stored bytes is answered
-- 'overlap': the caller compares those bytes and calls again with the
-- tail, in the same transaction (the row stays locked).
CREATE FUNCTION cis490_append(p_host text, p_stream text, p_off bigint, p_n bigint,
	p_object text, p_pos bigint, p_t bigint, p_gen text, p_gen_start bigint,
	p_day bigint, p_cap_streams int, p_cap_total bigint, p_cap_day bigint, p_cost bigint,
	OUT outcome text, OUT s_start bigint, OUT s_length bigint, OUT used bigint, OUT lim bigint)
LANGUAGE plpgsql AS $$
DECLARE
	v_new boolean := false;
	v_gen text;
	v_gen_start bigint;
	v_held bigint;
	v_streams int;
	v_bytes bigint;
	v_appends bigint;
BEGIN
	INSERT INTO streams (host, stream) VALUES (p_host, p_stream) ON CONFLICT DO NOTHING RETURNING true INTO v_new;
	v_new := coalesce(v_new, false);
	SELECT start, length, gen, gen_start INTO s_start, s_length, v_gen, v_gen_start
		FROM streams WHERE host = p_host AND stream = p_stream FOR UPDATE;
	IF p_off < s_start THEN
		outcome := 'before-start';
	ELSIF p_off > s_length THEN
		outcome := 'gap';
	ELSIF p_off < s_length THEN
		outcome := 'overlap';
	ELSIF p_n = 0 THEN
		outcome := 'duplicate';
	END IF;
	IF outcome IS NULL THEN
		INSERT INTO hosts (host) VALUES (p_host) ON CONFLICT DO NOTHING;
		SELECT held, streams INTO v_held, v_streams FROM hosts WHERE host = p_host FOR UPDATE;
		INSERT INTO host_days (host, day) VALUES (p_host, p_day) ON CONFLICT DO NOTHING;
		SELECT bytes, appends INTO v_bytes, v_appends FROM host_days WHERE host = p_host AND day = p_day FOR UPDATE;
		IF v_new AND p_cap_streams > 0 AND v_streams >= p_cap_streams THEN
			outcome := 'streams'; used := v_streams; lim := p_cap_streams;
		ELSIF p_cap_total > 0 AND v_held + p_n > p_cap_total THEN
			outcome := 'total'; used := v_held; lim := p_cap_total;
		ELSIF p_cap_day > 0 AND v_bytes + p_n + (v_appends + 1) * p_cost > p_cap_day THEN
			outcome := 'day'; used := v_bytes + v_appends * p_cost; lim := p_cap_day;
		END IF;
	END IF;
	IF outcome IS NOT NULL THEN
		IF v_new THEN
			DELETE FROM streams WHERE host = p_host AND stream = p_stream;
		END IF;
		RETURN;
	END IF;
	IF p_gen <> '' THEN
		v_gen := p_gen; v_gen_start := p_gen_start;
	END IF;
	INSERT INTO extents (host, stream, off, n, object, pos, t, gen, gen_start)
		VALUES (p_host, p_stream, s_length, p_n, p_object, p_pos, p_t, v_gen, v_gen_start);
	UPDATE streams SET length = s_length + p_n, gen = v_gen, gen_start = v_gen_start, updated = p_t
		WHERE host = p_host AND stream = p_stream;
	UPDATE hosts SET held = held + p_n, streams = streams + v_new::int WHERE host = p_host;
	UPDATE host_days SET bytes = bytes + p_n, appends = appends + 1 WHERE host = p_host AND day = p_day;
	outcome := 'appended';
	s_length := s_length + p_n;
END
$$;
`,
	// 2: maintenance — retention by time across streams, one maintainer
	// at a time (a lease with a fencing number), and objects dropped by
	// retention or compaction, deleted only after a grace.
	`
CREATE INDEX extents_t ON extents (t);
CREATE TABLE leases (
	name    text        PRIMARY KEY,
	holder  text        NOT NULL,
	fence   bigint      NOT NULL,
	expires timestamptz NOT NULL
);
ALTER TABLE objects ADD COLUMN dropped timestamptz;
CREATE INDEX objects_dropped ON objects (dropped) WHERE dropped IS NOT NULL;
`,
	// 3: index lines copied from a data folder's day files name the file,
	// so cis490 migrate resumes day by day and verifies each day's count.
	`
ALTER TABLE index_lines ADD COLUMN origin text;
CREATE INDEX index_lines_origin ON index_lines (origin) WHERE origin IS NOT NULL;
`,
	// 4: the fleet-health detector's state, silences and alerts (its
	// lease is a row of leases, named fleet-health).
	`
-- detector_blobs holds the detector's opaque state ('state'), the
-- silences ('silences') and states set aside as unreadable
-- ('state.corrupt.<time>').
CREATE TABLE detector_blobs (
	name    text        PRIMARY KEY,
	data    bytea       NOT NULL,
	updated timestamptz NOT NULL DEFAULT now()
);
-- Alert lines, as alerts.jsonl holds them; xid bounds a reader by the
-- snapshot horizon, as index_lines' does.
CREATE TABLE detector_alerts (
	seq  bigserial   PRIMARY KEY,
	xid  xid8        NOT NULL DEFAULT pg_current_xact_id(),
	ts   timestamptz NOT NULL,
	line text        NOT NULL
);
CREATE INDEX detector_alerts_xid ON detector_alerts (xid, seq);
`,
	// 5: the small state a receiver kept beside the data: the hosts'
	// doctor snapshots, releases (their files' bytes are objects), the
	// dashboard's sessions and the hosts taken out of the fleet. Times are
	// unix ns, as the files kept them to the nanosecond.
	`
CREATE TABLE host_health (
	host     text   PRIMARY KEY,
	received bigint NOT NULL,
	snapshot bytea  NOT NULL -- the doctor's JSON as the host sent it
);
-- One row per file of a release; the version exists once its manifest's
-- row does. A replaced file's row points at a new object (create-only
-- keys), so a reader sees the old bytes or the new, never a mix.
CREATE TABLE release_files (
	version text   NOT NULL,
	file    text   NOT NULL,
	object  text   NOT NULL REFERENCES objects (name),
	size    bigint NOT NULL,
	PRIMARY KEY (version, file)
);
CREATE TABLE dashboard_sessions (
	cookie_sha256 text   PRIMARY KEY,
	admin         text   NOT NULL,
	token_sha256  text   NOT NULL,
	expires       bigint NOT NULL
);
CREATE TABLE removed_hosts (
	host    text   PRIMARY KEY,
	removed bigint NOT NULL
);
`,
	// 6: the trust state: tokens (only their SHA-256), the CA's ledger, the
	// revocation list, their versions, and who holds the trust lock.
	`
CREATE TABLE tokens (
	sha256   text        PRIMARY KEY, -- hex SHA-256 of the token, never the token
	kind     text        NOT NULL,
	name     text        NOT NULL,    -- a host, an admin, or a join token's pattern
	created  timestamptz NOT NULL,
	revoked  boolean     NOT NULL DEFAULT false,
	uses     int         NOT NULL DEFAULT 0,
	enrolled text[]      NOT NULL DEFAULT '{}',
	expires  timestamptz
);
CREATE INDEX tokens_name ON tokens (kind, name);
CREATE TABLE issued (
	seq       bigserial   PRIMARY KEY,
	serial    text        NOT NULL,
	kind      text        NOT NULL,
	name      text        NOT NULL,
	not_after timestamptz NOT NULL,
	at        timestamptz NOT NULL
);
CREATE INDEX issued_name ON issued (name, seq);
CREATE TABLE revoked (
	serial text        PRIMARY KEY,
	host   text        NOT NULL,
	at     timestamptz NOT NULL,
	why    text        NOT NULL
);
-- Every change to tokens or revoked bumps its row here in the same
-- transaction (taking the row's lock first, so changes to one table
-- commit one at a time): receivers poll the versions and reload a table
-- whose version moved.
CREATE TABLE trust_versions (
	what    text   PRIMARY KEY,
	version bigint NOT NULL
);
INSERT INTO trust_versions VALUES ('tokens', 0), ('revoked', 0);
-- The trust lock is an advisory lock; this row says who took it last,
-- for a waiter to name.
CREATE TABLE trust_holder (
	holder text        NOT NULL,
	since  timestamptz NOT NULL
);
INSERT INTO trust_holder VALUES ('nobody yet', now());
`,
	// 7: cis490_append's usual case in 5 statements instead of 10: a
	// stream that exists, quota rows that exist and take the bytes are
	// updated in place, each check in its UPDATE's WHERE; anything else
	// (a new stream, a new day, a refusal) takes the full path as before.
	`
CREATE OR REPLACE FUNCTION cis490_append(p_host text, p_stream text, p_off bigint, p_n bigint,
	p_object text, p_pos bigint, p_t bigint, p_gen text, p_gen_start bigint,
	p_day bigint, p_cap_streams int, p_cap_total bigint, p_cap_day bigint, p_cost bigint,
	OUT outcome text, OUT s_start bigint, OUT s_length bigint, OUT used bigint, OUT lim bigint)
LANGUAGE plpgsql AS $$
DECLARE
	v_new boolean := false;
	v_fast boolean := false;
	v_gen text;
	v_gen_start bigint;
	v_held bigint;
	v_streams int;
	v_bytes bigint;
	v_appends bigint;
BEGIN
	SELECT start, length, gen, gen_start INTO s_start, s_length, v_gen, v_gen_start
		FROM streams WHERE host = p_host AND stream = p_stream FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO streams (host, stream) VALUES (p_host, p_stream) ON CONFLICT DO NOTHING RETURNING true INTO v_new;
		v_new := coalesce(v_new, false);
		SELECT start, length, gen, gen_start INTO s_start, s_length, v_gen, v_gen_start
			FROM streams WHERE host = p_host AND stream = p_stream FOR UPDATE;
	END IF;
	IF p_off < s_start THEN
		outcome := 'before-start';
	ELSIF p_off > s_length THEN
		outcome := 'gap';
	ELSIF p_off < s_length THEN
		outcome := 'overlap';
	ELSIF p_n = 0 THEN
		outcome := 'duplicate';
	END IF;
	IF outcome IS NULL AND NOT v_new THEN
		-- The usual case: both quota rows exist and take the bytes.
		UPDATE hosts SET held = held + p_n
			WHERE host = p_host AND (p_cap_total = 0 OR held + p_n <= p_cap_total)
			RETURNING true INTO v_fast;
		IF coalesce(v_fast, false) THEN
			v_fast := NULL;
			UPDATE host_days SET bytes = bytes + p_n, appends = appends + 1
				WHERE host = p_host AND day = p_day
				AND (p_cap_day = 0 OR bytes + p_n + (appends + 1) * p_cost <= p_cap_day)
				RETURNING true INTO v_fast;
			IF NOT coalesce(v_fast, false) THEN
				UPDATE hosts SET held = held - p_n WHERE host = p_host; -- the full path decides
			END IF;
		END IF;
		v_fast := coalesce(v_fast, false);
	END IF;
	IF outcome IS NULL AND NOT v_fast THEN
		INSERT INTO hosts (host) VALUES (p_host) ON CONFLICT DO NOTHING;
		SELECT held, streams INTO v_held, v_streams FROM hosts WHERE host = p_host FOR UPDATE;
		INSERT INTO host_days (host, day) VALUES (p_host, p_day) ON CONFLICT DO NOTHING;
		SELECT bytes, appends INTO v_bytes, v_appends FROM host_days WHERE host = p_host AND day = p_day FOR UPDATE;
		IF v_new AND p_cap_streams > 0 AND v_streams >= p_cap_streams THEN
			outcome := 'streams'; used := v_streams; lim := p_cap_streams;
		ELSIF p_cap_total > 0 AND v_held + p_n > p_cap_total THEN
			outcome := 'total'; used := v_held; lim := p_cap_total;
		ELSIF p_cap_day > 0 AND v_bytes + p_n + (v_appends + 1) * p_cost > p_cap_day THEN
			outcome := 'day'; used := v_bytes + v_appends * p_cost; lim := p_cap_day;
		END IF;
	END IF;
	IF outcome IS NOT NULL THEN
		IF v_new THEN
			DELETE FROM streams WHERE host = p_host AND stream = p_stream;
		END IF;
		RETURN;
	END IF;
	IF p_gen <> '' THEN
		v_gen := p_gen; v_gen_start := p_gen_start;
	END IF;
	INSERT INTO extents (host, stream, off, n, object, pos, t, gen, gen_start)
		VALUES (p_host, p_stream, s_length, p_n, p_object, p_pos, p_t, v_gen, v_gen_start);
	UPDATE streams SET length = s_length + p_n, gen = v_gen, gen_start = v_gen_start, updated = p_t
		WHERE host = p_host AND stream = p_stream;
	IF NOT v_fast THEN
		UPDATE hosts SET held = held + p_n, streams = streams + v_new::int WHERE host = p_host;
		UPDATE host_days SET bytes = bytes + p_n, appends = appends + 1 WHERE host = p_host AND day = p_day;
	END IF;
	outcome := 'appended';
	s_length := s_length + p_n;
END
$$;
`,
	// 8: search filters, one per block of a stream's bytes (search.FilterOf),
	// built by the maintainer; filtered_to is how far a stream has them.
	`
CREATE TABLE stream_filters (
	host     text   NOT NULL,
	stream   text   NOT NULL,
	from_off bigint NOT NULL,
	to_off   bigint NOT NULL,
	filter   bytea  NOT NULL,
	PRIMARY KEY (host, stream, from_off)
);
ALTER TABLE streams ADD COLUMN filtered_to bigint NOT NULL DEFAULT 0;
`,
	// 9: the filter of a quiet stream's last block whose last line is
	// still open (filterTail), good only while the stream ends where it
	// did; apart from stream_filters, which receivers before it trust
	// whatever the stream's length. line_end: whether a filter's block
	// ends a line (store.Filter.Edge); null for those built before.
	`
ALTER TABLE stream_filters ADD COLUMN line_end boolean;
CREATE TABLE stream_tails (
	host     text   NOT NULL,
	stream   text   NOT NULL,
	from_off bigint NOT NULL,
	to_off   bigint NOT NULL,
	filter   bytea  NOT NULL,
	PRIMARY KEY (host, stream)
);
`,
}

// migrate brings the database's schema up to date, under an advisory lock.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(schemaLock)); err != nil {
		return fmt.Errorf("lock the schema: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(schemaLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS cis490_schema (version int NOT NULL)`); err != nil {
		return fmt.Errorf("create the schema's version table: %w", err)
	}
	var version int
	err = conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM cis490_schema`).Scan(&version)
	if err != nil {
		return fmt.Errorf("read the schema's version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("the database's schema is version %d, newer than this receiver knows (%d): update this receiver", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("schema migration %d: %w", v+1, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO cis490_schema (version) VALUES ($1)`, v+1); err != nil {
			tx.Rollback(ctx)
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("schema migration %d: %w", v+1, err)
		}
	}
	return nil
}
