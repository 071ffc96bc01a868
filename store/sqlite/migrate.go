package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] takes the schema from version i to version i+1. The version
// is kept in the file header (PRAGMA user_version). Never edit a released
// migration; append a new one.
var migrations = []string{
	// 1: groups, datasets, collections, datapoints.
	`
CREATE TABLE groups (
	id        BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
	code_name TEXT NOT NULL UNIQUE
);

CREATE TABLE datasets (
	id          BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
	group_id    BLOB NOT NULL REFERENCES groups (id),
	code_name   TEXT NOT NULL,
	name        TEXT NOT NULL,
	summary     TEXT NOT NULL,
	description TEXT NOT NULL,
	kind        TEXT NOT NULL,
	fields      TEXT NOT NULL, -- JSON array of schema.Field
	UNIQUE (group_id, code_name)
);

-- pk is the compact key datapoints refer to; id is the public UUID.
-- AUTOINCREMENT: a key is never reused, even after the newest collection
-- is deleted. n counts the collection's datapoints (kept by Ingest and
-- Delete) so that stats need not scan them.
CREATE TABLE collections (
	pk         INTEGER PRIMARY KEY AUTOINCREMENT,
	id         BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
	dataset_id BLOB NOT NULL REFERENCES datasets (id),
	name       TEXT NOT NULL,
	n          INTEGER NOT NULL DEFAULT 0,
	UNIQUE (dataset_id, name)
);

-- Datapoints are clustered by (collection, id) in one B-tree (WITHOUT
-- ROWID). IDs start with the big-endian unix milliseconds of the
-- datapoint's time, so this primary key is also the time index: a time
-- interval is an ID range, read sequentially in time order. No foreign key
-- on collection: that would cost a lookup per inserted row; the store
-- deletes a collection's datapoints itself in the same transaction.
CREATE TABLE datapoints (
	collection     INTEGER NOT NULL,
	id             BLOB NOT NULL,
	ingestion_time INTEGER NOT NULL, -- unix nanoseconds
	data           BLOB NOT NULL,
	PRIMARY KEY (collection, id)
) WITHOUT ROWID;
`,
	// 2: the spatial index.
	`
-- One R*Tree row per box of a datapoint's Bounds: longitude and latitude in
-- degrees, and the datapoint's time (from its ID) in days since
-- 2000-01-01, so that a query over a time interval prunes by time as well
-- as by place. Days keep a degree and a day of similar weight in the
-- R*Tree's split heuristics for satellite footprints. Coordinates are
-- 32-bit floats that SQLite rounds outward, so a stored box only grows and
-- the index stays a correct prefilter. collection and id (auxiliary
-- columns, not indexed) lead from a box to its datapoint.
CREATE VIRTUAL TABLE spatial USING rtree(rid, min_lon, max_lon, min_lat, max_lat, min_t, max_t, +collection INTEGER, +id BLOB);

-- A datapoint has one box, or two (rids rid and rid+1) when it was split at
-- the antimeridian; rid and boxes are NULL without geometry. Deletes find
-- the boxes by rid.
ALTER TABLE datapoints ADD COLUMN rid INTEGER;
ALTER TABLE datapoints ADD COLUMN boxes INTEGER;

-- spatial counts the collection's datapoints that have boxes (kept by
-- Ingest and Delete like n), so that deleting from a collection without
-- any costs what it did before: looking up each datapoint's rid costs
-- ~2.5 times a plain delete, and an AFTER DELETE trigger ~1.6 times, even
-- where no datapoint has geometry.
ALTER TABLE collections ADD COLUMN spatial INTEGER NOT NULL DEFAULT 0;

-- The next free rid, advanced by Ingest in its write transaction.
CREATE TABLE spatial_next (rid INTEGER NOT NULL);
INSERT INTO spatial_next (rid) VALUES (1);
`,
}

// SchemaVersion is the schema version this code writes.
func SchemaVersion() int { return len(migrations) }

// migrate brings the file's schema to SchemaVersion in one write
// transaction. BEGIN IMMEDIATE (the writer's txlock) serializes processes
// that open a new file at the same time: the second sees the first's work.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this granary supports (%d); upgrade granary", v, len(migrations))
	}
	if v == len(migrations) {
		return nil
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}
