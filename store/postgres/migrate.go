package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

type spatialMode string

const (
	spatialPostGIS spatialMode = "postgis" // datapoints.bounds geometry
	spatialBox     spatialMode = "box"     // datapoints.b1, b2 box
)

// migrationLock is the pg_advisory_xact_lock key that serializes granary's
// migrations in a database (all schemas: CREATE EXTENSION is per database).
const migrationLock = 0x6772616e617279 // "granary"

// migration takes the schema from version i to i+1 inside the migration
// transaction. Never edit a released migration; append a new one.
type migration func(ctx context.Context, tx pgx.Tx, o options) error

var migrations = []migration{
	// 1: groups, datasets, collections, datapoints.
	func(ctx context.Context, tx pgx.Tx, o options) error {
		_, err := tx.Exec(ctx, `
CREATE TABLE granary_settings (
	key   text PRIMARY KEY,
	value text NOT NULL
);

CREATE TABLE groups (
	id        uuid PRIMARY KEY,
	code_name text NOT NULL UNIQUE
);

CREATE TABLE datasets (
	id          uuid PRIMARY KEY,
	group_id    uuid NOT NULL REFERENCES groups (id),
	code_name   text NOT NULL,
	name        text NOT NULL,
	summary     text NOT NULL,
	description text NOT NULL,
	kind        text NOT NULL,
	fields      jsonb NOT NULL, -- array of {name, type, array, description, example, number}
	UNIQUE (group_id, code_name)
);

-- pk is the compact key datapoints refer to; id is the public UUID. n
-- counts the collection's datapoints, kept by Ingest and Delete in their
-- transactions, so that stats need not scan them.
CREATE TABLE collections (
	pk         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         uuid NOT NULL UNIQUE,
	dataset_id uuid NOT NULL REFERENCES datasets (id),
	name       text NOT NULL,
	n          bigint NOT NULL DEFAULT 0,
	UNIQUE (dataset_id, name)
);

-- IDs start with the big-endian unix milliseconds of the datapoint's time
-- and uuid compares bytewise, so the primary key is also the time index: a
-- time interval is a key range. No foreign key on collection (a lookup per
-- inserted row): writers lock the collection row instead, and delete a
-- collection's datapoints in the same transaction as the collection.
CREATE TABLE datapoints (
	collection     bigint NOT NULL,
	id             uuid NOT NULL,
	ingestion_time timestamptz NOT NULL,
	data           bytea NOT NULL,
	PRIMARY KEY (collection, id)
);
`)
		return err
	},

	// 2: the spatial prefilter, on PostGIS when it is there and wanted.
	func(ctx context.Context, tx pgx.Tx, o options) error {
		mode := spatialBox
		if o.postgis {
			// migrate has tried to install it before moving to our schema.
			ext, err := postgisSchema(ctx, tx)
			if err != nil {
				return err
			}
			if ext != "" {
				mode = spatialPostGIS
			}
		}
		var ddl string
		switch mode {
		case spatialPostGIS:
			ddl = `
ALTER TABLE datapoints ADD COLUMN bounds geometry;
CREATE INDEX datapoints_bounds ON datapoints USING gist (bounds) WHERE bounds IS NOT NULL;`
		default:
			// The first box, and the second (a geometry split at the
			// antimeridian; any further boxes are merged into it).
			ddl = `
ALTER TABLE datapoints ADD COLUMN b1 box, ADD COLUMN b2 box;
CREATE INDEX datapoints_b1 ON datapoints USING gist (b1) WHERE b1 IS NOT NULL;
CREATE INDEX datapoints_b2 ON datapoints USING gist (b2) WHERE b2 IS NOT NULL;`
		}
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO granary_settings (key, value) VALUES ('spatial', $1)`, string(mode))
		return err
	},

	// 3: PostGIS mode keeps each datapoint's geometry, for exact spatial
	// filters in the database (see shape.go). Existing rows are not
	// backfilled (their geometry is inside the protobuf data): they keep
	// shape NULL, and queries test them in Go after the bounds prefilter.
	func(ctx context.Context, tx pgx.Tx, o options) error {
		var mode string
		if err := tx.QueryRow(ctx, "SELECT value FROM granary_settings WHERE key = 'spatial'").Scan(&mode); err != nil {
			return err
		}
		if spatialMode(mode) != spatialPostGIS {
			return nil
		}
		_, err := tx.Exec(ctx, `
ALTER TABLE datapoints ADD COLUMN shape geometry;
CREATE INDEX datapoints_shape ON datapoints USING gist (shape) WHERE shape IS NOT NULL;`)
		return err
	},
}

// SchemaVersion is the schema version this code writes.
func SchemaVersion() int { return len(migrations) }

// ensurePostGIS reports whether PostGIS is installed in the database,
// trying to install it (which needs the privilege to) when it is not.
func ensurePostGIS(ctx context.Context, tx pgx.Tx) (bool, error) {
	if s, err := postgisSchema(ctx, tx); err != nil || s != "" {
		return s != "", err
	}
	// In a savepoint: a failure (extension not available, no privilege)
	// must not abort the migration.
	sp, err := tx.Begin(ctx)
	if err != nil {
		return false, err
	}
	if _, err := sp.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS postgis"); err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return false, rerr
		}
		return false, nil
	}
	if err := sp.Commit(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// postgisSchema is the schema PostGIS is installed in, or "".
func postgisSchema(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (string, error) {
	var s string
	err := q.QueryRow(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'postgis'`).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return s, err
}

type migrated struct {
	schema     string // where the tables are
	searchPath string // for the pool's connections; "" keeps the default
	spatial    spatialMode
}

// migrate brings the schema to SchemaVersion in one transaction that holds
// an advisory lock, so that processes opening a new database at once queue
// and each sees the work of those before it.
func migrate(ctx context.Context, conn *pgx.Conn, o options) (m migrated, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return m, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
		return m, err
	}
	// PostGIS first, with the connection's own search_path, so that it is
	// not installed into (and dropped with) a granary schema. Only a schema
	// that still needs migration 2 may create it.
	if o.postgis {
		v, err := schemaVersion(ctx, tx, o.schema)
		if err != nil {
			return m, err
		}
		if v < 2 {
			if _, err := ensurePostGIS(ctx, tx); err != nil {
				return m, err
			}
		}
	}
	ext, err := postgisSchema(ctx, tx)
	if err != nil {
		return m, err
	}

	// The search_path of the migration and of the pool's connections: our
	// schema, and PostGIS's schema when it is not on the path already.
	switch {
	case o.schema != "":
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoteIdent(o.schema)); err != nil {
			return m, fmt.Errorf("create schema %s: %w", o.schema, err)
		}
		m.searchPath = quoteIdent(o.schema)
		if ext != "" && ext != o.schema {
			m.searchPath += ", " + quoteIdent(ext)
		}
	case ext != "":
		var onPath bool
		var cur string
		if err := tx.QueryRow(ctx, "SELECT $1 = ANY (current_schemas(false)), current_setting('search_path')", ext).Scan(&onPath, &cur); err != nil {
			return m, err
		}
		if !onPath {
			m.searchPath = cur + ", " + quoteIdent(ext)
		}
	}
	if m.searchPath != "" {
		if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", m.searchPath); err != nil {
			return m, err
		}
	}
	if err := tx.QueryRow(ctx, "SELECT coalesce(current_schema(), '')").Scan(&m.schema); err != nil {
		return m, err
	}
	if m.schema == "" {
		return m, errors.New("no schema to create tables in: the search_path names none that exists (use WithSchema)")
	}

	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS granary_migrations (
		version    int PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return m, err
	}
	var v int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM granary_migrations").Scan(&v); err != nil {
		return m, err
	}
	if v > len(migrations) {
		return m, fmt.Errorf("schema version %d is newer than this granary supports (%d); upgrade granary", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if err := migrations[i](ctx, tx, o); err != nil {
			return m, fmt.Errorf("migrate schema %s to version %d: %w", m.schema, i+1, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO granary_migrations (version) VALUES ($1)", i+1); err != nil {
			return m, err
		}
	}
	var mode string
	if err := tx.QueryRow(ctx, "SELECT value FROM granary_settings WHERE key = 'spatial'").Scan(&mode); err != nil {
		return m, fmt.Errorf("spatial mode: %w", err)
	}
	switch m.spatial = spatialMode(mode); m.spatial {
	case spatialBox:
	case spatialPostGIS:
		if ext == "" {
			return m, errors.New("the schema keeps bounds in PostGIS geometries, but PostGIS is not installed")
		}
	default:
		return m, fmt.Errorf("unknown spatial mode %q", mode)
	}
	return m, tx.Commit(ctx)
}

// schemaVersion is the migration version of a schema ("" for the current
// one), 0 when it has no granary tables yet.
func schemaVersion(ctx context.Context, tx pgx.Tx, schema string) (int, error) {
	name := "granary_migrations"
	if schema != "" {
		name = quoteIdent(schema) + "." + name
	}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v int
	err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+name).Scan(&v)
	return v, err
}
