package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/granaryhq/granary/store"
)

// ctxCheckEvery is how many rows the write loops run between context
// checks. The per-row statements run without the context: go-sqlite3 starts
// a goroutine per statement that has a cancellable context.
const ctxCheckEvery = 512

func cmpID(a, b *store.ID) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:]))
}

// idOrder returns the indices of ids sorted by ID; equal IDs keep their
// input order, so the first occurrence of a repeated ID comes first.
func idOrder(n int, id func(int) *store.ID) []int {
	order := make([]int, n)
	sorted := true
	for i := range order {
		order[i] = i
		if i > 0 && sorted && cmpID(id(i-1), id(i)) > 0 {
			sorted = false
		}
	}
	if !sorted {
		slices.SortStableFunc(order, func(a, b int) int { return cmpID(id(a), id(b)) })
	}
	return order
}

var emptyData = []byte{}

// Ingest writes dps into a collection in one transaction, in ID order so
// that the B-tree is written sequentially; results are in input order. The
// Bounds of new datapoints go into the spatial index in the same
// transaction, and so do those of existing datapoints that have no boxes
// yet (see boxWriter.backfill).
func (s *Store) Ingest(ctx context.Context, collection uuid.UUID, dps []store.Datapoint, allowExisting bool) (store.IngestResult, error) {
	if len(dps) == 0 {
		if _, err := collectionPK(ctx, s.r, collection); err != nil {
			return store.IngestResult{}, fmt.Errorf("ingest: %w", err)
		}
		return store.IngestResult{Existing: []bool{}}, nil
	}
	if err := checkBounds(dps); err != nil {
		return store.IngestResult{}, fmt.Errorf("ingest into collection %s: %w", collection, err)
	}
	order := idOrder(len(dps), func(i int) *store.ID { return &dps[i].ID })
	now := time.Now().UnixNano()
	existing := make([]bool, len(dps))
	var created int64
	var exists []int // input indices of existing or repeated IDs
	err := s.write(ctx, func(tx *sql.Tx) error {
		pk, err := collectionPK(ctx, tx, collection)
		if err != nil {
			return err
		}
		ins := tx.StmtContext(ctx, s.insertDP)
		bw := boxWriter{ctx: ctx, tx: tx, s: s, pk: pk}
		for n, i := range order {
			if n%ctxCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			dp := &dps[i]
			data := dp.Data
			if data == nil {
				data = emptyData
			}
			var rid, nb any // NULL without geometry
			if len(dp.Bounds) > 0 {
				r, err := bw.rid()
				if err != nil {
					return err
				}
				rid, nb = r, len(boxes(dp.Bounds))
			}
			res, err := ins.Exec(pk, dp.ID[:], now, data, rid, nb)
			if err != nil {
				return fmt.Errorf("datapoint %s: %w", dp.ID, err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if k == 0 {
				existing[i] = true
				exists = append(exists, i)
				if rid != nil && allowExisting {
					err = bw.backfill(dp)
				}
			} else {
				created++
				if rid != nil {
					err = bw.add(dp)
				}
			}
			if err != nil {
				return err
			}
		}
		if len(exists) > 0 && !allowExisting {
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
		if err := bw.finish(); err != nil {
			return err
		}
		if created > 0 || bw.indexed > 0 {
			_, err = tx.ExecContext(ctx, "UPDATE collections SET n = n + ?, spatial = spatial + ? WHERE pk = +?", created, bw.indexed, pk)
		}
		return err
	})
	if err != nil {
		var ee *store.ExistsError
		if errors.As(err, &ee) {
			return store.IngestResult{}, err
		}
		return store.IngestResult{}, fmt.Errorf("ingest into collection %s: %w", collection, err)
	}
	return store.IngestResult{Created: created, Existing: existing}, nil
}

// Delete removes datapoints by ID in one transaction; if any is not in the
// collection nothing is deleted. Repeated IDs count once.
func (s *Store) Delete(ctx context.Context, collection uuid.UUID, ids []store.ID) (int64, error) {
	if len(ids) == 0 {
		if _, err := collectionPK(ctx, s.r, collection); err != nil {
			return 0, fmt.Errorf("delete: %w", err)
		}
		return 0, nil
	}
	order := idOrder(len(ids), func(i int) *store.ID { return &ids[i] })
	var deleted int64
	var missing []int
	err := s.write(ctx, func(tx *sql.Tx) error {
		var pk, spatial int64
		if err := tx.QueryRowContext(ctx, "SELECT pk, spatial FROM collections WHERE id = +?", collection[:]).Scan(&pk, &spatial); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("collection %s: %w", collection, store.ErrNotFound)
			}
			return err
		}
		del := tx.StmtContext(ctx, s.deleteDP)
		var bd *boxDeleter // only where some datapoint has boxes
		if spatial > 0 {
			bd = newBoxDeleter(ctx, tx, s)
		}
		for n, i := range order {
			if n%ctxCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if n > 0 && ids[order[n-1]] == ids[i] {
				continue // repeated
			}
			var k int64
			var err error
			if bd != nil {
				k, err = bd.delete(pk, &ids[i])
			} else {
				var res sql.Result
				if res, err = del.Exec(pk, ids[i][:]); err == nil {
					k, err = res.RowsAffected()
				}
			}
			if err != nil {
				return fmt.Errorf("datapoint %s: %w", ids[i], err)
			}
			if k == 0 {
				missing = append(missing, i)
			} else {
				deleted++
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			me := &store.MissingError{IDs: make([]store.ID, len(missing))}
			for j, i := range missing {
				me.IDs[j] = ids[i]
			}
			return me
		}
		if deleted == 0 {
			return nil
		}
		var removed int64
		if bd != nil {
			removed = bd.removed
		}
		_, err := tx.ExecContext(ctx, "UPDATE collections SET n = n - ?, spatial = spatial - ? WHERE pk = +?", deleted, removed, pk)
		return err
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

// Reads are one statement each: every statement outside a transaction is
// a read transaction of its own, and taking the WAL read lock is much of a
// small read's cost.
//
// Parameters in WHERE equalities and LIMIT are written +?N. SQLite marks a
// statement whose plan could depend on such a parameter's value (a bare
// LIMIT ?N always) for re-preparation whenever the parameter is rebound,
// and go-sqlite3 clears the bindings of every statement it reuses, so a
// bare ?N there re-prepares the statement on each call: measured 15 µs
// instead of 7 µs for a one-row range query. The unary plus hides the
// value from the planner without changing the plan.

// uniqueIDs returns ids without repeats, in order.
func uniqueIDs(ids []uuid.UUID) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// missingCollection names the first of cols that does not exist.
func (s *Store) missingCollection(ctx context.Context, cols []uuid.UUID) error {
	for _, id := range cols {
		if _, err := collectionPK(ctx, s.r, id); err != nil {
			return err
		}
	}
	// Deleted since the statement that missed it ran, and created again?
	// Collection IDs are never reused, so this cannot happen.
	return fmt.Errorf("collection: %w", store.ErrNotFound)
}

// readSQL caches statement texts by kind and number of collections.
var readSQL sync.Map // string → string

// collectionsArm is the first part of the read statements: one row whose
// id is NULL (so it sorts first) and whose ord counts how many of the n
// collections (parameters ?4...) exist, so that one statement both reads
// and checks the collections.
func collectionsArm(b *strings.Builder, n int) {
	b.WriteString("SELECT count(*) AS ord, NULL AS id, NULL AS ingestion_time, NULL AS data FROM collections WHERE id IN (")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "+?%d", i+4)
	}
	b.WriteString(")")
}

// rangeSQL selects the datapoints of n collections (?4...) with IDs in
// [?1, ?2], ascending, at most ?3 rows (-1: no limit) including the
// collectionsArm row. SQLite runs the compound SELECT as a streaming merge
// of primary-key range scans, with no sort, and stops at the limit; ord,
// the collection's position, breaks ties.
func rangeSQL(n int) string {
	key := fmt.Sprint("range", n)
	if s, ok := readSQL.Load(key); ok {
		return s.(string)
	}
	var b strings.Builder
	collectionsArm(&b, n)
	for i := range n {
		fmt.Fprintf(&b, " UNION ALL SELECT %d, id, ingestion_time, data FROM datapoints"+
			" WHERE collection = (SELECT pk FROM collections WHERE id = +?%d) AND id >= ?1 AND id <= ?2", i, i+4)
	}
	b.WriteString(" ORDER BY id, ord LIMIT +?3")
	readSQL.Store(key, b.String())
	return b.String()
}

// getSQL selects the datapoint ?1 from each of n collections (?4...) after
// the collectionsArm row, in collection order. ?2 and ?3 are unused slots.
func getSQL(n int) string {
	key := fmt.Sprint("get", n)
	if s, ok := readSQL.Load(key); ok {
		return s.(string)
	}
	var b strings.Builder
	collectionsArm(&b, n)
	for i := range n {
		fmt.Fprintf(&b, " UNION ALL SELECT %d, id, ingestion_time, data FROM datapoints"+
			" WHERE collection = (SELECT pk FROM collections WHERE id = +?%d) AND id = +?1", i, i+4)
	}
	b.WriteString(" ORDER BY id, ord")
	readSQL.Store(key, b.String())
	return b.String()
}

// readRows runs a rangeSQL or getSQL statement and returns its datapoints;
// a collection that does not exist is ErrNotFound.
func (s *Store) readRows(ctx context.Context, query string, from, to store.ID, limit int64, cols []uuid.UUID) ([]store.Datapoint, error) {
	args := make([]any, 0, 3+len(cols))
	args = append(args, from[:], to[:], limit)
	for _, c := range cols {
		args = append(args, c[:])
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Datapoint
	if limit > 0 {
		out = make([]store.Datapoint, 0, min(limit, 8192))
	}
	var (
		ord  int64
		id   sql.RawBytes
		ns   sql.NullInt64
		data []byte
	)
	first := true
	for rows.Next() {
		if err := rows.Scan(&ord, &id, &ns, &data); err != nil {
			return nil, err
		}
		if first {
			// The collectionsArm row.
			first = false
			if id != nil || ord != int64(len(cols)) {
				rows.Close()
				return nil, s.missingCollection(ctx, cols)
			}
			continue
		}
		dp := store.Datapoint{Data: data, IngestionTime: time.Unix(0, ns.Int64).UTC(), Collection: cols[ord]}
		copy(dp.ID[:], id)
		out = append(out, dp)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if first {
		return nil, errors.New("read statement returned no collections row")
	}
	return out, nil
}

// Query returns the datapoints of q.Collections with IDs in [q.From, q.To]
// in ascending ID order, at most q.Limit of them (no limit when Limit ≤ 0).
// SkipData is ignored: the full data is returned, since cutting it in SQL
// saves only ~2% of a scan (benchmarks/sqlitedriver). With Boxes the
// spatial index answers (spatial.go).
func (s *Store) Query(ctx context.Context, q store.Query) ([]store.Datapoint, error) {
	cols := uniqueIDs(q.Collections)
	if len(cols) == 0 {
		return nil, nil
	}
	if len(q.Boxes) > 0 {
		return s.querySpatial(ctx, q, cols)
	}
	limit := int64(-1)
	if q.Limit > 0 {
		limit = int64(q.Limit) + 1 // and the collectionsArm row
	}
	out, err := s.readRows(ctx, rangeSQL(len(cols)), q.From, q.To, limit, cols)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return out, nil
}

// Get returns the datapoint with this ID from the first of the collections
// that holds it. skipData is ignored, as in Query.
func (s *Store) Get(ctx context.Context, collections []uuid.UUID, id store.ID, skipData bool) (store.Datapoint, error) {
	cols := uniqueIDs(collections)
	if len(cols) == 0 {
		return store.Datapoint{}, fmt.Errorf("get datapoint %s: no collection given: %w", id, store.ErrNotFound)
	}
	dps, err := s.readRows(ctx, getSQL(len(cols)), id, id, -1, cols)
	if err != nil {
		return store.Datapoint{}, fmt.Errorf("get datapoint %s: %w", id, err)
	}
	if len(dps) == 0 {
		return store.Datapoint{}, fmt.Errorf("datapoint %s: %w", id, store.ErrNotFound)
	}
	return dps[0], nil // ordered by collection
}

// statsSQL reads a collection's count and first and last datapoints; no
// row at all means the collection does not exist.
const statsSQL = `SELECT 0, n, NULL, NULL FROM collections WHERE id = +?1
	UNION ALL SELECT * FROM (SELECT 1, id, ingestion_time, data FROM datapoints
		WHERE collection = (SELECT pk FROM collections WHERE id = +?1) ORDER BY id LIMIT 1)
	UNION ALL SELECT * FROM (SELECT 2, id, ingestion_time, data FROM datapoints
		WHERE collection = (SELECT pk FROM collections WHERE id = +?1) ORDER BY id DESC LIMIT 1)`

// CollectionStats returns a collection's datapoint count and its first and
// last datapoints by ID.
func (s *Store) CollectionStats(ctx context.Context, id uuid.UUID) (store.CollectionStats, error) {
	st, err := s.collectionStats(ctx, id)
	if err != nil {
		return store.CollectionStats{}, fmt.Errorf("stats of collection %s: %w", id, err)
	}
	return st, nil
}

func (s *Store) collectionStats(ctx context.Context, id uuid.UUID) (store.CollectionStats, error) {
	var st store.CollectionStats
	rows, err := s.r.QueryContext(ctx, statsSQL, id[:])
	if err != nil {
		return st, err
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var (
			part int
			v    any
			ns   sql.NullInt64
			data []byte
		)
		if err := rows.Scan(&part, &v, &ns, &data); err != nil {
			return st, err
		}
		if part == 0 {
			n, ok := v.(int64)
			if !ok {
				return st, fmt.Errorf("count is %T", v)
			}
			st.Count, found = uint64(n), true
			continue
		}
		raw, ok := v.([]byte)
		if !ok || len(raw) != len(store.ID{}) {
			return st, fmt.Errorf("datapoint ID %v", v)
		}
		dp := store.Datapoint{Data: data, IngestionTime: time.Unix(0, ns.Int64).UTC(), Collection: id}
		copy(dp.ID[:], raw)
		if part == 1 {
			st.First = dp
		} else {
			st.Last = dp
		}
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	if !found {
		return st, store.ErrNotFound
	}
	return st, nil
}
