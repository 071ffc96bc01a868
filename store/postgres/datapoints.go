package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/store"
)

// idOrder returns the indices of ids sorted by ID; equal IDs keep their
// input order, so the first occurrence of a repeated ID comes first.
func idOrder(n int, id func(int) *store.ID) []int {
	order := make([]int, n)
	sorted := true
	for i := range order {
		order[i] = i
		if i > 0 && sorted && bytes.Compare(id(i - 1)[:], id(i)[:]) > 0 {
			sorted = false
		}
	}
	if !sorted {
		slices.SortStableFunc(order, func(a, b int) int { return bytes.Compare(id(a)[:], id(b)[:]) })
	}
	return order
}

// The staging table of Ingest: one per connection, emptied at each commit.
// ord is the datapoint's index in the Ingest call.
const createStage = `CREATE TEMP TABLE IF NOT EXISTS granary_stage (
	ord  int4 NOT NULL,
	id   uuid NOT NULL,
	data bytea NOT NULL,
	geom bytea, -- EWKB of the bounds (PostGIS mode)
	shape bytea, -- EWKB of the geometry (PostGIS mode)
	b1   box,   -- first box (box mode)
	b2   box    -- second box, or the box around the rest (box mode)
) ON COMMIT DELETE ROWS`

// The INSERT of Ingest's staging path, per spatial mode. It returns the
// staged datapoints that it did not insert: they were stored before, or by
// a concurrent ingest that committed first (ON CONFLICT waits for it).
var insertSQL = map[spatialMode]string{
	spatialPostGIS: `WITH ins AS (INSERT INTO datapoints (collection, id, ingestion_time, data, bounds, shape)
		SELECT $1, id, now(), data, ST_GeomFromEWKB(geom), ST_GeomFromEWKB(shape) FROM pg_temp.granary_stage
		ON CONFLICT (collection, id) DO NOTHING RETURNING id)
		SELECT s.ord FROM pg_temp.granary_stage s WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.id = s.id)`,
	spatialBox: `WITH ins AS (INSERT INTO datapoints (collection, id, ingestion_time, data, b1, b2)
		SELECT $1, id, now(), data, b1, b2 FROM pg_temp.granary_stage
		ON CONFLICT (collection, id) DO NOTHING RETURNING id)
		SELECT s.ord FROM pg_temp.granary_stage s WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.id = s.id)`,
}

var stageColumns = map[spatialMode]string{
	spatialPostGIS: "ord, id, data, geom, shape",
	spatialBox:     "ord, id, data, b1, b2",
}

var directColumns = map[spatialMode]string{
	spatialPostGIS: "collection, id, ingestion_time, data, bounds, shape",
	spatialBox:     "collection, id, ingestion_time, data, b1, b2",
}

// appendBounds appends the spatial fields of a COPY row.
func (s *Store) appendBounds(buf []byte, dp *store.Datapoint) []byte {
	switch {
	case s.spatial == spatialPostGIS && len(dp.Bounds) > 0:
		buf = appendLengthPrefixed(buf, func(b []byte) []byte { return appendEWKB(b, dp.Bounds) })
		return appendShape(buf, dp.Data)
	case s.spatial == spatialPostGIS:
		return appendNull(appendNull(buf))
	case len(dp.Bounds) > 1:
		buf = appendLengthPrefixed(buf, func(b []byte) []byte { return appendBoxBinary(b, dp.Bounds[0]) })
		return appendLengthPrefixed(buf, func(b []byte) []byte { return appendBoxBinary(b, unionBounds(dp.Bounds[1:])) })
	case len(dp.Bounds) == 1:
		buf = appendLengthPrefixed(buf, func(b []byte) []byte { return appendBoxBinary(b, dp.Bounds[0]) })
		return appendNull(buf)
	}
	return appendNull(appendNull(buf))
}

// appendShape appends the shape field of a COPY row: the datapoint's
// geometry as EWKB, NULL when it has none.
func appendShape(buf, data []byte) []byte {
	at := len(buf)
	buf, ok := shapeEWKB(append(buf, 0, 0, 0, 0), data)
	if !ok {
		return appendNull(buf[:at])
	}
	binary.BigEndian.PutUint32(buf[at:], uint32(len(buf)-at-4))
	return buf
}

func (s *Store) fieldCount(base int) int {
	return base + 2 // bounds and shape, or b1 and b2
}

// directRow encodes dps[i] as a binary COPY row of the datapoints table.
func (s *Store) directRow(dps []store.Datapoint, pk int64, now int64) func(buf []byte, i int) []byte {
	return func(buf []byte, i int) []byte {
		dp := &dps[i]
		buf = appendFieldCount(buf, s.fieldCount(4))
		buf = appendInt8(buf, pk)
		buf = appendUUID(buf, (*[16]byte)(&dp.ID))
		buf = appendTimestamptz(buf, now)
		buf = appendBytes(buf, dp.Data)
		return s.appendBounds(buf, dp)
	}
}

// stageRow encodes dps[i] as a binary COPY row of the staging table.
func (s *Store) stageRow(dps []store.Datapoint) func(buf []byte, i int) []byte {
	return func(buf []byte, i int) []byte {
		dp := &dps[i]
		buf = appendFieldCount(buf, s.fieldCount(3))
		buf = appendInt4(buf, int32(i))
		buf = appendUUID(buf, (*[16]byte)(&dp.ID))
		buf = appendBytes(buf, dp.Data)
		return s.appendBounds(buf, dp)
	}
}

// Ingest writes dps into a collection in one transaction; results are in
// input order. The batch goes in ID order, each ID once, so that concurrent
// ingests lock shared IDs in one order and never deadlock.
//
// The general path is a binary COPY into a temporary staging table and one
// INSERT … SELECT … ON CONFLICT DO NOTHING, after which the staged IDs that
// this transaction did not insert are the existing ones. Unless the store
// met existing IDs recently, a binary COPY straight into the datapoints
// table is tried first, in a savepoint: when no ID exists, which is the
// common case of fresh data, it costs about what a plain COPY costs; when
// one does, the savepoint is rolled back and the general path runs.
func (s *Store) Ingest(ctx context.Context, collection uuid.UUID, dps []store.Datapoint, allowExisting bool) (store.IngestResult, error) {
	if len(dps) == 0 {
		if _, err := collectionPK(ctx, s.pool, collection, ""); err != nil {
			return store.IngestResult{}, fmt.Errorf("ingest: %w", err)
		}
		return store.IngestResult{Existing: []bool{}}, nil
	}
	// The first occurrence of each ID is staged; later ones are repeats.
	order := idOrder(len(dps), func(i int) *store.ID { return &dps[i].ID })
	uniq := order[:0:0]
	var repeated []int
	for k, i := range order {
		if k > 0 && dps[order[k-1]].ID == dps[i].ID {
			repeated = append(repeated, i)
		} else {
			uniq = append(uniq, i)
		}
	}
	staged := dps
	if len(uniq) < len(dps) || !slices.IsSorted(uniq) {
		staged = make([]store.Datapoint, len(uniq))
		for k, i := range uniq {
			staged[k] = dps[i]
		}
	}
	// Repeats fail the call anyway: no point in the direct COPY.
	direct := s.directCopy && (allowExisting || len(repeated) == 0) && s.conflictsSeen.Load() <= 0
	var (
		created int64
		existed []int // input indices of staged datapoints already stored
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		created, existed = 0, existed[:0]
		// KEY SHARE: concurrent ingests into the collection go on, its
		// deletion waits for them. now() is the transaction's start, the
		// ingestion time of every datapoint of the call.
		var pk int64
		var now time.Time
		err := tx.QueryRow(ctx, "SELECT pk, now() FROM collections WHERE id = $1 FOR KEY SHARE", [16]byte(collection)).Scan(&pk, &now)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("collection %s: %w", collection, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if direct {
			ok, err := s.copyDirect(ctx, tx, pk, now, staged)
			if err != nil {
				return err
			}
			if ok {
				created = int64(len(staged))
				return s.addCount(ctx, tx, pk, created)
			}
		}
		found, err := s.copyStaged(ctx, tx, pk, staged)
		if err != nil {
			return err
		}
		for _, k := range found {
			existed = append(existed, uniq[k])
		}
		created = int64(len(staged) - len(existed))
		if len(existed) > 0 {
			s.conflictsSeen.Store(conflictBackoff)
		} else if s.conflictsSeen.Load() > 0 {
			s.conflictsSeen.Add(-1)
		}
		if !allowExisting && len(existed)+len(repeated) > 0 {
			exists := slices.Concat(existed, repeated)
			slices.Sort(exists)
			ids := make([]store.ID, 0, len(exists))
			seen := make(map[store.ID]bool, len(exists))
			for _, i := range exists {
				if !seen[dps[i].ID] {
					seen[dps[i].ID] = true
					ids = append(ids, dps[i].ID)
				}
			}
			return &store.ExistsError{IDs: ids}
		}
		return s.addCount(ctx, tx, pk, created)
	})
	if err != nil {
		var ee *store.ExistsError
		if errors.As(err, &ee) {
			return store.IngestResult{}, err
		}
		return store.IngestResult{}, fmt.Errorf("ingest into collection %s: %w", collection, err)
	}
	existing := make([]bool, len(dps))
	for _, i := range existed {
		existing[i] = true
	}
	for _, i := range repeated {
		existing[i] = true
	}
	return store.IngestResult{Created: created, Existing: existing}, nil
}

// conflictBackoff is how many ingest calls use only the staging path after
// one met existing IDs.
const conflictBackoff = 16

// copyDirect copies the (unique, sorted) datapoints straight into the
// datapoints table in a savepoint. It reports false, with the savepoint
// rolled back, when an ID exists.
func (s *Store) copyDirect(ctx context.Context, tx pgx.Tx, pk int64, now time.Time, dps []store.Datapoint) (bool, error) {
	// Plain SAVEPOINT statements, so that the savepoint is also released
	// after a rollback and the staging path runs in the top transaction.
	if _, err := tx.Exec(ctx, "SAVEPOINT granary_copy"); err != nil {
		return false, err
	}
	r := newCopyReader(ctx, len(dps), s.directRow(dps, pk, now.UnixMicro()))
	_, err := tx.Conn().PgConn().CopyFrom(ctx, r, "COPY datapoints ("+directColumns[s.spatial]+") FROM STDIN (FORMAT binary)")
	if err == nil {
		_, err = tx.Exec(ctx, "RELEASE SAVEPOINT granary_copy")
		return err == nil, err
	}
	if !isUniqueViolation(err) {
		return false, fmt.Errorf("copy: %w", err)
	}
	_, err = tx.Exec(ctx, "ROLLBACK TO SAVEPOINT granary_copy; RELEASE SAVEPOINT granary_copy")
	return false, err
}

// copyStaged copies the (unique, sorted) datapoints into the staging table
// and inserts those whose IDs are not stored yet; it returns the indices
// (into dps) of the others.
func (s *Store) copyStaged(ctx context.Context, tx pgx.Tx, pk int64, dps []store.Datapoint) ([]int32, error) {
	if _, err := tx.Exec(ctx, createStage); err != nil {
		return nil, err
	}
	r := newCopyReader(ctx, len(dps), s.stageRow(dps))
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, r,
		"COPY pg_temp.granary_stage ("+stageColumns[s.spatial]+") FROM STDIN (FORMAT binary)")
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if tag.RowsAffected() != int64(len(dps)) {
		return nil, fmt.Errorf("copy: %d rows staged, want %d", tag.RowsAffected(), len(dps))
	}
	rows, err := tx.Query(ctx, insertSQL[s.spatial], pk)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int32])
}

// addCount adds to the collection's count. It comes last in a transaction:
// the row lock it takes is held only until the commit, so that concurrent
// ingests into one collection serialize here only.
func (s *Store) addCount(ctx context.Context, tx pgx.Tx, pk, n int64) error {
	if n == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, "UPDATE collections SET n = n + $1 WHERE pk = $2", n, pk)
	return err
}

// Delete removes datapoints by ID in one transaction; if any is not in the
// collection nothing is deleted. Repeated IDs count once.
func (s *Store) Delete(ctx context.Context, collection uuid.UUID, ids []store.ID) (int64, error) {
	if len(ids) == 0 {
		if _, err := collectionPK(ctx, s.pool, collection, ""); err != nil {
			return 0, fmt.Errorf("delete: %w", err)
		}
		return 0, nil
	}
	// Unique IDs in ID order (the order rows are locked in), each with the
	// input index of its first occurrence.
	order := idOrder(len(ids), func(i int) *store.ID { return &ids[i] })
	uniq := make([][16]byte, 0, len(ids))
	first := make([]int, 0, len(ids))
	for k, i := range order {
		if k > 0 && ids[order[k-1]] == ids[i] {
			continue
		}
		uniq = append(uniq, ids[i])
		first = append(first, i)
	}
	var deleted int64
	err := s.write(ctx, func(tx pgx.Tx) error {
		deleted = 0
		pk, err := collectionPK(ctx, tx, collection, "FOR KEY SHARE")
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "DELETE FROM datapoints WHERE collection = $1 AND id = ANY ($2::uuid[]) RETURNING id", pk, uniq)
		if err != nil {
			return err
		}
		gone := make(map[[16]byte]bool, len(uniq))
		for rows.Next() {
			var id [16]byte
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			gone[id] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		deleted = int64(len(gone))
		if len(gone) < len(uniq) {
			var missing []int
			for k, id := range uniq {
				if !gone[id] {
					missing = append(missing, first[k])
				}
			}
			slices.Sort(missing)
			me := &store.MissingError{IDs: make([]store.ID, len(missing))}
			for j, i := range missing {
				me.IDs[j] = ids[i]
			}
			return me
		}
		return s.addCount(ctx, tx, pk, -deleted)
	})
	if err != nil {
		var me *store.MissingError
		if errors.As(err, &me) {
			return 0, err
		}
		return 0, fmt.Errorf("delete from collection %s: %w", collection, err)
	}
	return deleted, nil
}

// uniqueIDs returns ids without repeats, in order.
func uniqueIDs(ids []uuid.UUID) [][16]byte {
	out := make([][16]byte, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, [16]byte(id)) {
			out = append(out, id)
		}
	}
	return out
}

// dataExpr is the data column of reads: all of it, or with skipData the
// leading field 1 (the time: tag 0x0a, a one-byte length, the message) when
// the data starts with it.
func dataExpr(skipData bool) string {
	if !skipData {
		return "data"
	}
	return `CASE WHEN length(data) < 2 THEN data
		WHEN get_byte(data, 0) <> 10 OR get_byte(data, 1) >= 128 THEN data
		ELSE substring(data FROM 1 FOR 2 + get_byte(data, 1)) END`
}

// exactKind is how Query tests q.Spatial in the database.
type exactKind int

const (
	exactNone       exactKind = iota // Boxes prefilter only
	exactIntersects                  // ST_Intersects(shape, filter)
	exactContains                    // ST_Covers(filter, shape)
)

// exactKind is how the store evaluates q's spatial filter.
func (s *Store) exactKind(q *store.Query) exactKind {
	switch {
	case s.spatial != spatialPostGIS || len(q.Boxes) == 0 || q.Spatial == nil || q.Spatial.Spherical || len(q.Spatial.Geometry) == 0:
		return exactNone
	case q.Spatial.Contains:
		return exactContains
	}
	return exactIntersects
}

// spatialExpr is the spatial filter on datapoints for query boxes whose
// parameters start at $first; with an exact kind the filter geometry is
// parameter $first+boxes, tested on shape where a row has one, and the
// boxes apply to rows without (written before schema version 3).
func (s *Store) spatialExpr(boxes, first int, exact exactKind) string {
	if boxes == 0 {
		return ""
	}
	var b strings.Builder
	f := first + boxes
	switch exact {
	case exactIntersects:
		fmt.Fprintf(&b, " AND (ST_Intersects(shape, ST_GeomFromEWKB($%d::bytea)) OR shape IS NULL AND (", f)
	case exactContains:
		fmt.Fprintf(&b, " AND (ST_Covers(ST_GeomFromEWKB($%d::bytea), shape) OR shape IS NULL AND (", f)
	default:
		b.WriteString(" AND (")
	}
	for k := range boxes {
		if k > 0 {
			b.WriteString(" OR ")
		}
		p := first + k
		if s.spatial == spatialPostGIS {
			fmt.Fprintf(&b, "ST_Intersects(bounds, ST_GeomFromEWKB($%d::bytea))", p)
		} else {
			fmt.Fprintf(&b, "b1 && $%d::box OR b2 && $%[1]d::box", p)
		}
	}
	b.WriteString(")")
	if exact != exactNone {
		b.WriteString(")")
	}
	return b.String()
}

// boxArgs are the parameters of spatialExpr.
func (s *Store) boxArgs(boxes []orb.Bound) []any {
	out := make([]any, len(boxes))
	for i, b := range boxes {
		b = normBound(b)
		if s.spatial == spatialPostGIS {
			out[i] = appendEWKB(nil, []orb.Bound{b})
		} else {
			out[i] = pgtype.Box{P: [2]pgtype.Vec2{{X: b.Max[0], Y: b.Max[1]}, {X: b.Min[0], Y: b.Min[1]}}, Valid: true}
		}
	}
	return out
}

// readSQL caches statement texts by their shape.
var readSQL sync.Map // string → string

// rangeSQL is the statement of Query. Its first column counts how many of
// the n collections $4 (uuid[]) exist, for the one row that comes even when
// no datapoint does; then it has the datapoints of those collections with
// IDs in [$1, $2], ascending, at most $3 of them (NULL: no limit), that pass
// the filter of boxes query boxes ($5…). Each collection is one arm of a
// UNION ALL, a primary key range scan (or a spatial index scan, as the
// planner sees fit); PostgreSQL merges the arms in ID order (Merge Append)
// and stops at the limit. ord, the collection's position, breaks ties.
//
// The last column, exact, tells a row that passed the exact filter of an
// exact kind from one that passed the boxes only.
func (s *Store) rangeSQL(n, boxes int, skipData bool, exact exactKind) string {
	key := fmt.Sprint("range/", s.spatial, "/", n, "/", boxes, "/", skipData, "/", exact)
	if q, ok := readSQL.Load(key); ok {
		return q.(string)
	}
	var b strings.Builder
	b.WriteString("SELECT k.n, r.ord, r.id, r.ingestion_time, r.data, r.exact" +
		" FROM (SELECT count(*) AS n FROM collections WHERE id = ANY ($4::uuid[])) k LEFT JOIN LATERAL (")
	exactCol := "false"
	if exact != exactNone {
		exactCol = "shape IS NOT NULL"
	}
	arm := func(i int) {
		fmt.Fprintf(&b, "SELECT %d AS ord, id, ingestion_time, %s AS data, %s AS exact FROM datapoints"+
			" WHERE collection = (SELECT pk FROM collections WHERE id = ($4::uuid[])[%d]) AND id >= $1 AND id <= $2%s ORDER BY id LIMIT $3",
			i, dataExpr(skipData), exactCol, i+1, s.spatialExpr(boxes, 5, exact))
	}
	if n == 1 {
		arm(0)
	} else {
		for i := range n {
			if i > 0 {
				b.WriteString(" UNION ALL ")
			}
			b.WriteString("(")
			arm(i)
			b.WriteString(")")
		}
		b.WriteString(" ORDER BY id, ord LIMIT $3")
	}
	b.WriteString(") r ON true")
	readSQL.Store(key, b.String())
	return b.String()
}

// Query returns the datapoints of q.Collections with IDs in [q.From, q.To]
// in ascending ID order, at most q.Limit of them (no limit when Limit ≤ 0),
// keeping only those with a bound that intersects one of q.Boxes when set.
// With PostGIS and a cartesian q.Spatial, rows that keep their geometry
// (shape) are tested exactly instead and come back marked SpatialMatch;
// see shape.go. With SkipData the data is cut to its leading time field.
//
// The statement is planned for its parameters on every call (an unnamed
// prepared statement): a generic plan cannot tell a narrow time range from
// the whole collection, nor a small box from the world.
func (s *Store) Query(ctx context.Context, q store.Query) ([]store.Datapoint, error) {
	cols := uniqueIDs(q.Collections)
	if len(cols) == 0 {
		return nil, nil
	}
	var limit *int64
	if q.Limit > 0 {
		l := int64(q.Limit)
		limit = &l
	}
	exact := s.exactKind(&q)
	args := make([]any, 0, 6+len(q.Boxes))
	args = append(args, pgx.QueryExecModeCacheDescribe, [16]byte(q.From), [16]byte(q.To), limit, cols)
	args = append(args, s.boxArgs(q.Boxes)...)
	if exact != exactNone {
		f, err := appendShapeEWKB(nil, q.Spatial.Geometry)
		if err != nil {
			return nil, fmt.Errorf("query: spatial filter: %w", err)
		}
		args = append(args, f)
	}
	rows, err := s.pool.Query(ctx, s.rangeSQL(len(cols), len(q.Boxes), q.SkipData, exact), args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	var (
		out  []store.Datapoint
		n    int64
		ord  pgtype.Int4
		id   pgtype.UUID
		it   pgtype.Timestamptz
		data []byte
		ok   pgtype.Bool
	)
	if limit != nil {
		out = make([]store.Datapoint, 0, min(*limit, 8192))
	}
	for rows.Next() {
		if err := rows.Scan(&n, &ord, &id, &it, &data, &ok); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		if n != int64(len(cols)) {
			rows.Close()
			return nil, fmt.Errorf("query: %w", s.missingCollection(ctx, cols))
		}
		if !ord.Valid {
			break // no datapoints
		}
		out = append(out, store.Datapoint{ID: id.Bytes, Data: data, IngestionTime: it.Time.UTC(), Collection: cols[ord.Int32], SpatialMatch: ok.Bool})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return out, nil
}

// missingCollection names the first of cols that does not exist.
func (s *Store) missingCollection(ctx context.Context, cols [][16]byte) error {
	for _, id := range cols {
		if _, err := collectionPK(ctx, s.pool, uuid.UUID(id), ""); err != nil {
			return err
		}
	}
	return fmt.Errorf("collection: %w", store.ErrNotFound)
}

// getSQL reads one row: how many of the n collections $1 (uuid[]) exist,
// and the datapoint $2 from the first of them that holds it (NULLs when
// none). Primary key lookups only, so that it plans fast and well.
func getSQL(n int, skipData bool) string {
	key := fmt.Sprint("get/", n, "/", skipData)
	if q, ok := readSQL.Load(key); ok {
		return q.(string)
	}
	var b strings.Builder
	b.WriteString("SELECT k.n, r.ord, r.id, r.ingestion_time, r.data" +
		" FROM (SELECT count(*) AS n FROM collections WHERE id = ANY ($1::uuid[])) k LEFT JOIN LATERAL (")
	for i := range n {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&b, "SELECT %d AS ord, id, ingestion_time, %s AS data FROM datapoints"+
			" WHERE collection = (SELECT pk FROM collections WHERE id = ($1::uuid[])[%d]) AND id = $2",
			i, dataExpr(skipData), i+1)
	}
	if n > 1 {
		b.WriteString(" ORDER BY ord LIMIT 1")
	}
	b.WriteString(") r ON true")
	readSQL.Store(key, b.String())
	return b.String()
}

// Get returns the datapoint with this ID from the first of the collections
// that holds it.
func (s *Store) Get(ctx context.Context, collections []uuid.UUID, id store.ID, skipData bool) (store.Datapoint, error) {
	cols := uniqueIDs(collections)
	if len(cols) == 0 {
		return store.Datapoint{}, fmt.Errorf("get datapoint %s: no collection given: %w", id, store.ErrNotFound)
	}
	var (
		n    int
		ord  *int32
		got  pgtype.UUID
		it   *time.Time
		data []byte
	)
	if err := s.pool.QueryRow(ctx, getSQL(len(cols), skipData), cols, [16]byte(id)).Scan(&n, &ord, &got, &it, &data); err != nil {
		return store.Datapoint{}, fmt.Errorf("get datapoint %s: %w", id, err)
	}
	if n != len(cols) {
		return store.Datapoint{}, fmt.Errorf("get datapoint %s: %w", id, s.missingCollection(ctx, cols))
	}
	if ord == nil {
		return store.Datapoint{}, fmt.Errorf("datapoint %s: %w", id, store.ErrNotFound)
	}
	if data == nil {
		data = []byte{}
	}
	return store.Datapoint{ID: got.Bytes, Data: data, IngestionTime: it.UTC(), Collection: cols[*ord]}, nil
}

// statsSQL reads a collection's count and first and last datapoints; no
// row means the collection does not exist.
const statsSQL = `SELECT c.n, f.id, f.ingestion_time, f.data, l.id, l.ingestion_time, l.data FROM collections c
	LEFT JOIN LATERAL (SELECT id, ingestion_time, data FROM datapoints WHERE collection = c.pk ORDER BY id LIMIT 1) f ON true
	LEFT JOIN LATERAL (SELECT id, ingestion_time, data FROM datapoints WHERE collection = c.pk ORDER BY id DESC LIMIT 1) l ON true
	WHERE c.id = $1`

// CollectionStats returns a collection's datapoint count and its first and
// last datapoints by ID.
func (s *Store) CollectionStats(ctx context.Context, id uuid.UUID) (store.CollectionStats, error) {
	var (
		st         store.CollectionStats
		n          int64
		fid, lid   pgtype.UUID
		fit, lit   *time.Time
		fdat, ldat []byte
	)
	err := s.pool.QueryRow(ctx, statsSQL, [16]byte(id)).Scan(&n, &fid, &fit, &fdat, &lid, &lit, &ldat)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return st, fmt.Errorf("stats of collection %s: %w", id, err)
	}
	st.Count = uint64(n)
	if fid.Valid {
		st.First = store.Datapoint{ID: fid.Bytes, Data: fdat, IngestionTime: fit.UTC(), Collection: id}
		st.Last = store.Datapoint{ID: lid.Bytes, Data: ldat, IngestionTime: lit.UTC(), Collection: id}
	}
	return st, nil
}
