package sqlite

// The spatial index. Every box of a datapoint's Bounds is a row of the
// R*Tree spatial (migration 2): lon, lat and the datapoint's time in days,
// with the collection and ID alongside. A datapoint has at most two boxes
// (one, or two split at the antimeridian; more are merged into one that
// covers them all), and its row keeps their rowids (rid, boxes), so that
// deletes remove them by rowid. collections.spatial counts the datapoints
// with boxes, so that deletes from a collection without any skip all this.
//
// A query with Boxes walks the ID range in time windows. Each window is one
// statement: an R*Tree search per query box (boxes × window), restricted to
// the collections and the ID range, made unique, sorted by ID and cut at
// the limit, then joined to the datapoints. The first window is sized from
// the collections' counts and time spans to hold about Limit datapoints,
// and windows grow with the candidates they turn out to hold, so a page of
// an unselective query costs about a page of work, and a selective one a
// few R*Tree searches, however long the ID range is.

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/store"
)

const (
	msPerDay = 86_400_000
	// epoch2000 (2000-01-01T00:00:00Z in unix ms) is the R*Tree's time
	// origin: 32-bit floats of days since then step ~84 s until 2044.
	epoch2000 = 946_684_800_000
)

// idMillis is the time in unix ms that an ID starts with.
func idMillis(id []byte) int64 { return int64(binary.BigEndian.Uint64(id[:8]) >> 16) }

// days is the R*Tree's time coordinate of unix ms.
func days(ms int64) float64 { return float64(ms-epoch2000) / msPerDay }

// timeStep is about how far apart in ms the R*Tree's time coordinates lie
// near ms: it keeps 32-bit floats, so a narrower window finds no fewer
// boxes.
func timeStep(ms int64) int64 {
	f := float32(math.Abs(days(ms)))
	return int64(math.Ceil(float64(math.Nextafter32(f, float32(math.Inf(1)))-f) * msPerDay))
}

// idAt returns the first ID of millisecond ms, or its last when last is set.
func idAt(ms int64, last bool) store.ID {
	var id store.ID
	binary.BigEndian.PutUint64(id[:8], uint64(ms)<<16)
	if last {
		for i := 6; i < len(id); i++ {
			id[i] = 0xff
		}
	}
	return id
}

// checkBounds rejects a box that the R*Tree cannot keep: NaN or min > max.
func checkBounds(dps []store.Datapoint) error {
	for i := range dps {
		for j, b := range dps[i].Bounds {
			if !(b.Min[0] <= b.Max[0] && b.Min[1] <= b.Max[1]) {
				return fmt.Errorf("datapoint %s: bounds[%d] %v: want min ≤ max in lon and lat", dps[i].ID, j, b)
			}
		}
	}
	return nil
}

// boxWriter writes the boxes of an ingest call. It takes rids from
// spatial_next on first use and puts the next free one back in finish.
type boxWriter struct {
	ctx         context.Context
	tx          *sql.Tx
	s           *Store
	pk          int64
	start, next int64 // 0 until first use
	ins, set    *sql.Stmt
	indexed     int64 // datapoints given boxes
}

// rid is the rid the next datapoint's first box gets.
func (w *boxWriter) rid() (int64, error) {
	if w.next == 0 {
		if err := w.tx.QueryRowContext(w.ctx, "SELECT rid FROM spatial_next").Scan(&w.next); err != nil {
			return 0, fmt.Errorf("spatial_next: %w", err)
		}
		w.start = w.next
		w.ins = w.tx.StmtContext(w.ctx, w.s.insertBox)
	}
	return w.next, nil
}

// boxes is what the index keeps of bounds: at most two boxes.
func boxes(bounds []orb.Bound) []orb.Bound {
	if len(bounds) <= 2 {
		return bounds
	}
	u := bounds[0]
	for _, b := range bounds[1:] {
		u = u.Union(b)
	}
	return []orb.Bound{u}
}

// add writes the boxes of a datapoint just inserted with rid w.next.
func (w *boxWriter) add(dp *store.Datapoint) error {
	t := days(idMillis(dp.ID[:]))
	bs := boxes(dp.Bounds)
	for k, b := range bs {
		if _, err := w.ins.Exec(w.next+int64(k), b.Min[0], b.Max[0], b.Min[1], b.Max[1], t, t, w.pk, dp.ID[:]); err != nil {
			return fmt.Errorf("datapoint %s: index bounds: %w", dp.ID, err)
		}
	}
	w.next += int64(len(bs))
	w.indexed++
	return nil
}

// backfill indexes an existing datapoint that has no boxes yet (stored
// before the index existed, or without Bounds): the same ID means the same
// content, so these are its bounds. One that has boxes keeps them.
func (w *boxWriter) backfill(dp *store.Datapoint) error {
	if w.set == nil {
		w.set = w.tx.StmtContext(w.ctx, w.s.setBoxes)
	}
	res, err := w.set.Exec(w.next, len(boxes(dp.Bounds)), w.pk, dp.ID[:])
	if err != nil {
		return fmt.Errorf("datapoint %s: %w", dp.ID, err)
	}
	if k, err := res.RowsAffected(); err != nil || k == 0 {
		return err
	}
	return w.add(dp)
}

// finish puts back the next free rid.
func (w *boxWriter) finish() error {
	if w.next == w.start {
		return nil
	}
	_, err := w.tx.ExecContext(w.ctx, "UPDATE spatial_next SET rid = ?", w.next)
	return err
}

// boxDeleter deletes datapoints with their boxes, for a collection whose
// spatial count is not zero.
type boxDeleter struct {
	del, box *sql.Stmt
	removed  int64 // datapoints with boxes deleted
}

func newBoxDeleter(ctx context.Context, tx *sql.Tx, s *Store) *boxDeleter {
	return &boxDeleter{del: tx.StmtContext(ctx, s.deleteSpatialDP), box: tx.StmtContext(ctx, s.deleteBox)}
}

// delete deletes a datapoint and its boxes; it returns 0 when there was no
// such datapoint.
func (d *boxDeleter) delete(pk int64, id *store.ID) (int64, error) {
	var rid, n sql.NullInt64
	switch err := d.del.QueryRow(pk, id[:]).Scan(&rid, &n); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, err
	}
	if rid.Valid {
		for k := range n.Int64 {
			if _, err := d.box.Exec(rid.Int64 + k); err != nil {
				return 0, fmt.Errorf("delete its boxes: %w", err)
			}
		}
		d.removed++
	}
	return 1, nil
}

// deleteBoxesSQL removes the boxes of the datapoints of the collections
// that %s selects (pks) before they go: one rowid lookup per box.
const deleteBoxesSQL = `DELETE FROM spatial WHERE rid IN (
	SELECT rid FROM datapoints WHERE collection IN (%[1]s) AND rid IS NOT NULL
	UNION ALL SELECT rid + 1 FROM datapoints WHERE collection IN (%[1]s) AND boxes > 1)`

// spanSQL reads a collection's pk and count and the first and last IDs of
// its datapoints (NULL when empty); no row means no such collection.
const spanSQL = `SELECT pk, n,
	(SELECT id FROM datapoints WHERE collection = c.pk ORDER BY id LIMIT 1),
	(SELECT id FROM datapoints WHERE collection = c.pk ORDER BY id DESC LIMIT 1)
	FROM collections c WHERE id = +?1`

// windowSQL selects the datapoints of n collections (pks ?6...) that have a
// box intersecting one of b query boxes (west, south, east, north each,
// after the pks), time in [?4, ?5] days and ID in [?1, ?2]: ascending by ID
// and then by the collection's position, at most ?3 (-1: no limit).
// DISTINCT and UNION make a datapoint found by several of its boxes or
// several query boxes one row.
func windowSQL(n, b int) string {
	key := fmt.Sprint("window", n, ",", b)
	if s, ok := readSQL.Load(key); ok {
		return s.(string)
	}
	var ord, in strings.Builder
	ord.WriteString("CASE collection")
	for i := range n {
		fmt.Fprintf(&ord, " WHEN +?%d THEN %d", i+6, i)
		if i > 0 {
			in.WriteString(", ")
		}
		fmt.Fprintf(&in, "+?%d", i+6)
	}
	ord.WriteString(" END")
	var q strings.Builder
	q.WriteString("SELECT s.ord, p.id, p.ingestion_time, p.data FROM (")
	for j := range b {
		if j > 0 {
			q.WriteString(" UNION ")
		}
		k := 6 + n + 4*j
		fmt.Fprintf(&q, "SELECT DISTINCT %s AS ord, collection, id FROM spatial"+
			" WHERE min_lon <= +?%d AND max_lon >= +?%d AND min_lat <= +?%d AND max_lat >= +?%d"+
			" AND min_t <= +?5 AND max_t >= +?4 AND id >= ?1 AND id <= ?2 AND collection IN (%s)",
			ord.String(), k+2, k, k+3, k+1, in.String())
	}
	q.WriteString(" ORDER BY id, ord LIMIT +?3) s" +
		" JOIN datapoints p ON p.collection = s.collection AND p.id = s.id ORDER BY s.id, s.ord")
	readSQL.Store(key, q.String())
	return q.String()
}

// querySpatial is Query with Boxes, over the collections cols (unique).
func (s *Store) querySpatial(ctx context.Context, q store.Query, cols []uuid.UUID) ([]store.Datapoint, error) {
	boxes := make([]orb.Bound, 0, len(q.Boxes))
	for _, b := range q.Boxes {
		if b.Min[0] <= b.Max[0] && b.Min[1] <= b.Max[1] { // else it matches nothing
			boxes = append(boxes, b)
		}
	}
	var out []store.Datapoint
	err := s.read(ctx, func(tx *sql.Tx) error {
		// The collections, and the part of [From, To] their datapoints span
		// with about how many datapoints it holds.
		pks := make([]int64, len(cols))
		fromMS, toMS := idMillis(q.From[:]), idMillis(q.To[:])
		start, end := int64(math.MaxInt64), int64(-1)
		var est float64
		for i, c := range cols {
			var n int64
			var first, last []byte
			err := tx.QueryRowContext(ctx, spanSQL, c[:]).Scan(&pks[i], &n, &first, &last)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("collection %s: %w", c, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
			if len(first) != len(store.ID{}) || len(last) != len(store.ID{}) {
				continue // empty
			}
			lo, hi := idMillis(first), idMillis(last)
			a, b := max(lo, fromMS), min(hi, toMS)
			if a > b {
				continue
			}
			start, end = min(start, a), max(end, b)
			est += float64(n) * float64(b-a+1) / float64(hi-lo+1)
		}
		if len(boxes) == 0 || start > end || cmpID(&q.From, &q.To) > 0 {
			return nil
		}

		query := windowSQL(len(cols), len(boxes))
		args := make([]any, 5+len(cols)+4*len(boxes))
		for i, pk := range pks {
			args[5+i] = pk
		}
		for j, b := range boxes {
			k := 5 + len(cols) + 4*j
			args[k], args[k+1], args[k+2], args[k+3] = b.Min[0], b.Min[1], b.Max[0], b.Max[1]
		}
		span := end - start + 1
		w := span
		if q.Limit > 0 && est > float64(q.Limit) {
			w = int64(float64(span) * float64(q.Limit) / est)
		}
		for cur := start; cur <= end; {
			w = min(max(w, timeStep(cur), 1), span)
			wEnd := end
			if w <= end-cur {
				wEnd = cur + w - 1
			}
			lo, hi := idAt(cur, false), idAt(wEnd, true)
			if cmpID(&lo, &q.From) < 0 {
				lo = q.From
			}
			if cmpID(&hi, &q.To) > 0 {
				hi = q.To
			}
			limit := int64(-1)
			if q.Limit > 0 {
				limit = int64(q.Limit - len(out))
			}
			args[0], args[1], args[2], args[3], args[4] = lo[:], hi[:], limit, days(cur), days(wEnd)
			before := len(out)
			var err error
			if out, err = readWindow(ctx, tx, query, args, cols, out); err != nil {
				return err
			}
			if q.Limit > 0 && len(out) >= q.Limit {
				return nil
			}
			cur = wEnd + 1
			// Grow the window toward what the rest of the page needs at
			// the density just seen.
			if found := len(out) - before; found == 0 {
				w *= 16
			} else {
				w = int64(float64(w) * min(16, max(2, 1.25*float64(q.Limit-len(out))/float64(found))))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return out, nil
}

// readWindow runs a windowSQL statement and appends its datapoints to out.
func readWindow(ctx context.Context, tx *sql.Tx, query string, args []any, cols []uuid.UUID, out []store.Datapoint) ([]store.Datapoint, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	var (
		ord  int64
		id   sql.RawBytes
		ns   int64
		data []byte
	)
	for rows.Next() {
		if err := rows.Scan(&ord, &id, &ns, &data); err != nil {
			return out, err
		}
		if ord < 0 || ord >= int64(len(cols)) || len(id) != len(store.ID{}) {
			return out, fmt.Errorf("window query returned collection %d, ID %x", ord, id)
		}
		dp := store.Datapoint{Data: data, IngestionTime: time.Unix(0, ns).UTC(), Collection: cols[ord]}
		copy(dp.ID[:], id)
		out = append(out, dp)
	}
	return out, rows.Err()
}
