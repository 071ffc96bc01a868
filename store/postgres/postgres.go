// Package postgres is granary's store on PostgreSQL (15 or later, and the
// engines that speak its protocol and SQL), through github.com/jackc/pgx/v5
// with a connection pool. Many processes on many machines may use one
// database at once: every write is one transaction, datapoint IDs are
// deterministic and ingest with allowExisting is idempotent, so stateless
// ingest workers can overlap and be restarted at will.
//
// The schema is created and migrated by Open (versioned migrations in the
// table granary_migrations, serialized across processes by an advisory
// lock). Datapoints live in one table clustered by its primary key
// (collection, id); IDs start with the datapoint's time in milliseconds, so
// that key is also the time index. Ingest copies a batch into a temporary
// staging table with binary COPY and moves it with one INSERT … SELECT …
// ON CONFLICT DO NOTHING.
//
// Spatial prefilter: when the PostGIS extension is available (or can be
// created) when the schema is first made, each datapoint's Bounds are kept as
// a geometry (a polygon, or a multipolygon/collection of the boxes, SRID
// 4326) with a GiST index, and Query.Boxes become ST_Intersects tests that
// use it. Without PostGIS, the first box and the box around the others are
// kept in two core `box` columns, each with a GiST index, and tested with &&
// (PostgreSQL keeps no statistics for `box`, so with a limit the planner may
// prefer the time-ordered scan: install PostGIS for spatial workloads). Both
// keep the two halves of a geometry split at the antimeridian apart, and both
// count touching edges as intersecting. A schema keeps the mode it was
// created with; Open creates the extension when it may (CREATE EXTENSION
// needs a superuser or the database owner's grant), else an administrator
// can, before the first Open.
//
// Ingest first tries a binary COPY straight into the datapoints table in a
// savepoint, and falls back to the staging path when an ID exists; see
// Store.Ingest. Query plans each call for its parameters (time range,
// boxes, limit); other statements are prepared and cached per connection
// (behind PgBouncer in transaction mode, add default_query_exec_mode=exec
// to the URL).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/granaryhq/granary/store"
)

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool       *pgxpool.Pool
	schema     string
	spatial    spatialMode
	directCopy bool
	// conflictsSeen > 0 makes Ingest skip the direct COPY: a recent call
	// met existing IDs. Set to conflictBackoff then, counted down by calls
	// without.
	conflictsSeen atomic.Int64
}

var _ store.Store = (*Store)(nil)

type options struct {
	schema     string
	postgis    bool
	directCopy bool
	maxConns   int32
}

// Option configures Open.
type Option func(*options)

// WithSchema keeps granary's tables in this schema (created if missing)
// instead of the first schema of the connection's search_path. Several
// granary stores can so share one database.
func WithSchema(name string) Option { return func(o *options) { o.schema = name } }

// WithPostGIS(false) makes a new schema use the core `box` index for the
// spatial prefilter even when PostGIS is available, and keeps Open from
// trying CREATE EXTENSION postgis. An existing schema keeps its mode.
func WithPostGIS(use bool) Option { return func(o *options) { o.postgis = use } }

// WithDirectCopy(false) makes Ingest always take the staging path (COPY
// into a temporary table, then INSERT … ON CONFLICT DO NOTHING) instead of
// first trying a COPY straight into the datapoints table (default true).
func WithDirectCopy(on bool) Option { return func(o *options) { o.directCopy = on } }

// WithMaxConns sets the pool size (default: pgxpool's, max(4, cores), or the
// URL's pool_max_conns).
func WithMaxConns(n int32) Option { return func(o *options) { o.maxConns = max(n, 1) } }

// IsURL reports whether s names a PostgreSQL database rather than a file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url (a postgres:// URL or a libpq
// key=value string), creates or migrates granary's schema, and returns the
// store.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{postgis: true, directCopy: true}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's error may quote the password; say only what failed.
		return nil, errors.New("open postgres store: cannot parse the connection string")
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	fail := func(err error) (*Store, error) {
		return nil, fmt.Errorf("open postgres store %s: %w", where, err)
	}
	// Room for Ingest's staging table in memory (the default is 8MB):
	// batches of up to ~90k datapoints of 300 bytes. Only connections that
	// use temporary tables allocate it.
	if _, ok := cfg.ConnConfig.RuntimeParams["temp_buffers"]; !ok {
		cfg.ConnConfig.RuntimeParams["temp_buffers"] = "32MB"
	}
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}

	// Migrate on a connection of its own, then set the pool's search_path
	// from what the migration found (our schema, PostGIS's schema).
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return fail(err)
	}
	m, err := migrate(ctx, conn, o)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return fail(err)
	}
	if m.searchPath != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = m.searchPath
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	return &Store{pool: pool, schema: m.schema, spatial: m.spatial, directCopy: o.directCopy}, nil
}

// PostGIS reports whether the store keeps bounds as PostGIS geometries
// (else in core box columns).
func (s *Store) PostGIS() bool { return s.spatial == spatialPostGIS }

// Schema is the schema that holds granary's tables.
func (s *Store) Schema() string { return s.schema }

// Pool is the store's connection pool, for tools and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// write runs fn in one transaction and commits it if fn succeeds. A
// deadlock or serialization failure (which other writers can cause, and
// which roll the whole transaction back) is retried a few times.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || attempt >= 3 || !isRetryable(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUniqueViolation(err error) bool     { return pgCode(err) == "23505" }
func isForeignKeyViolation(err error) bool { return pgCode(err) == "23503" }
func isRetryable(err error) bool {
	c := pgCode(err)
	return c == "40P01" || c == "40001" // deadlock_detected, serialization_failure
}

// quoteIdent quotes a name for SQL.
func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }
