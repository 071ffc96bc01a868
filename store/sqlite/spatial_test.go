package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
	"github.com/granaryhq/granary/store/storetest"
)

func newSpatialStore(t *testing.T) (*Store, store.Collection, *schema.Dataset) {
	t.Helper()
	st, err := Open(filepath.Join(t.TempDir(), "granary.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newSpatialStoreFrom(t, st)
}

func newSpatialStoreFrom(t testing.TB, st *Store) (*Store, store.Collection, *schema.Dataset) {
	ctx := t.Context()
	d, err := schema.New("my_org", "footprints", "Footprints", schema.SpatioTemporal, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.ID = uuid.New()
	if err := st.CreateDataset(ctx, d); err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateCollection(ctx, d.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	return st, c, d
}

// boxRows counts the rows of the R*Tree, and checks each collection's
// count of datapoints with boxes.
func boxRows(t *testing.T, st *Store) int {
	t.Helper()
	var n int
	if err := st.r.QueryRowContext(t.Context(), "SELECT count(*) FROM spatial").Scan(&n); err != nil {
		t.Fatal(err)
	}
	rows, err := st.r.QueryContext(t.Context(), `SELECT pk, spatial, (SELECT count(*) FROM datapoints WHERE collection = pk AND rid IS NOT NULL),
		(SELECT coalesce(sum(boxes), 0) FROM datapoints WHERE collection = pk) FROM collections`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	total := 0
	for rows.Next() {
		var pk, counted, actual, boxes int
		if err := rows.Scan(&pk, &counted, &actual, &boxes); err != nil {
			t.Fatal(err)
		}
		if counted != actual {
			t.Errorf("collection %d: spatial = %d, but %d datapoints have boxes", pk, counted, actual)
		}
		total += boxes
	}
	if total != n {
		t.Errorf("the datapoints have %d boxes, the R*Tree %d rows", total, n)
	}
	return n
}

func world(t *testing.T, st *Store, c uuid.UUID) []store.ID {
	t.Helper()
	dps, err := st.Query(t.Context(), store.Query{Collections: []uuid.UUID{c}, From: storetest.MinID, To: storetest.MaxID, Boxes: []orb.Bound{storetest.World}})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]store.ID, len(dps))
	for i, dp := range dps {
		out[i] = dp.ID
	}
	return out
}

// TestSpatialRows follows the R*Tree's rows through ingest and deletes: no
// box is written twice and none is left behind.
func TestSpatialRows(t *testing.T) {
	st, c, d := newSpatialStore(t)
	ctx := t.Context()
	split := []orb.Bound{storetest.Box(170, 0, 180, 1), storetest.Box(-180, 0, -170, 1)}
	var dps []store.Datapoint
	for i := range 50 {
		dp := storetest.SpatialDatapoint(int64(i)*1000, uint64(i), "", split[:1+i%2]...)
		if i%10 == 0 {
			dp.Bounds = nil
		}
		dps = append(dps, dp)
	}
	want := 0
	for _, dp := range dps {
		want += len(dp.Bounds)
	}
	if _, err := st.Ingest(ctx, c.ID, dps[:30], false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ingest(ctx, c.ID, slices.Concat(dps, dps[:5]), true); err != nil {
		t.Fatal(err)
	}
	if n := boxRows(t, st); n != want {
		t.Fatalf("%d boxes after ingest and re-ingest, want %d", n, want)
	}
	if _, err := st.Ingest(ctx, c.ID, dps[:3], false); err == nil {
		t.Fatal("ingest of existing IDs succeeded")
	}
	if n := boxRows(t, st); n != want {
		t.Fatalf("%d boxes after a failed ingest, want %d", n, want)
	}
	if _, err := st.Delete(ctx, c.ID, []store.ID{dps[0].ID, dps[1].ID, dps[2].ID}); err != nil {
		t.Fatal(err)
	}
	want -= 0 + 2 + 1
	if n := boxRows(t, st); n != want {
		t.Fatalf("%d boxes after delete, want %d", n, want)
	}
	other, err := st.CreateCollection(ctx, d.ID, "other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ingest(ctx, other.ID, dps, false); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteCollection(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if n, all := boxRows(t, st), want+3; n != all {
		t.Fatalf("%d boxes after deleting a collection, want %d", n, all)
	}
	if err := st.DeleteDataset(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if n := boxRows(t, st); n != 0 {
		t.Fatalf("%d boxes after deleting the dataset", n)
	}
}

// TestSpatialBackfill: a datapoint stored without Bounds gets its boxes
// when ingested again with them (allowExisting), as data from before the
// spatial index does.
func TestSpatialBackfill(t *testing.T) {
	st, c, _ := newSpatialStore(t)
	ctx := t.Context()
	dp := storetest.SpatialDatapoint(0, 1, "", storetest.Box(1, 1, 2, 2))
	plain := dp
	plain.Bounds = nil
	if _, err := st.Ingest(ctx, c.ID, []store.Datapoint{plain}, false); err != nil {
		t.Fatal(err)
	}
	if got := world(t, st, c.ID); len(got) != 0 {
		t.Fatalf("found without bounds: %v", got)
	}
	res, err := st.Ingest(ctx, c.ID, []store.Datapoint{dp, dp}, true)
	if err != nil || res.Created != 0 || res.NumExisting() != 2 {
		t.Fatalf("re-ingest: %+v, %v", res, err)
	}
	if got := world(t, st, c.ID); !slices.Equal(got, []store.ID{dp.ID}) {
		t.Fatalf("after backfill: %v", got)
	}
	if n := boxRows(t, st); n != 1 {
		t.Fatalf("%d boxes, want 1", n)
	}
}

func TestSpatialBadBounds(t *testing.T) {
	st, c, _ := newSpatialStore(t)
	for _, b := range []orb.Bound{storetest.Box(2, 0, 1, 1), storetest.Box(0, 2, 1, 1), {Min: orb.Point{0, 0}, Max: orb.Point{1, nan()}}} {
		dps := []store.Datapoint{storetest.SpatialDatapoint(0, 1, "", storetest.World), storetest.SpatialDatapoint(1, 2, "", b)}
		_, err := st.Ingest(t.Context(), c.ID, dps, false)
		if err == nil || !strings.Contains(err.Error(), dps[1].ID.String()) {
			t.Errorf("bounds %v: %v", b, err)
		}
	}
	if n := boxRows(t, st); n != 0 {
		t.Fatalf("%d boxes written", n)
	}
}

func nan() float64 { z := 0.0; return z / z }

// TestMigrateFromV1 opens a file of schema version 1 that holds data.
func TestMigrateFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "granary.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(migrations[0] + "PRAGMA user_version = 1;"); err != nil {
		t.Fatal(err)
	}
	dp := storetest.Datapoint(0, 1, "old")
	for _, q := range []string{
		"INSERT INTO groups VALUES (x'00000000000000000000000000000001', 'g')",
		`INSERT INTO datasets VALUES (x'00000000000000000000000000000002', x'00000000000000000000000000000001', 'd', 'D', '', '', 'spatiotemporal', '[]')`,
		"INSERT INTO collections (id, dataset_id, name, n) VALUES (x'00000000000000000000000000000003', x'00000000000000000000000000000002', 'c', 1)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec("INSERT INTO datapoints VALUES (1, ?, 0, ?)", dp.ID[:], dp.Data); err != nil {
		t.Fatal(err)
	}
	db.Close()

	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := uuid.UUID{15: 3}
	all, err := st.Query(t.Context(), store.Query{Collections: []uuid.UUID{c}, From: storetest.MinID, To: storetest.MaxID})
	if err != nil || len(all) != 1 || all[0].ID != dp.ID {
		t.Fatalf("old datapoint after migration: %v, %v", all, err)
	}
	dp.Bounds = []orb.Bound{storetest.World}
	if _, err := st.Ingest(t.Context(), c, []store.Datapoint{dp}, true); err != nil {
		t.Fatal(err)
	}
	if got := world(t, st, c); !slices.Equal(got, []store.ID{dp.ID}) {
		t.Fatalf("old datapoint, indexed by re-ingest: %v", got)
	}
	if _, err := st.Delete(t.Context(), c, []store.ID{dp.ID}); err != nil || boxRows(t, st) != 0 {
		t.Fatalf("delete: %v, %d boxes left", err, boxRows(t, st))
	}
}

// TestWindowPlan checks that the window statement searches the R*Tree with
// all its constraints and reaches datapoints by primary key.
func TestWindowPlan(t *testing.T) {
	st, _, _ := newSpatialStore(t)
	args := make([]any, 5+2+8)
	rows, err := st.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+windowSQL(2, 2), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	text := strings.Join(plan, "\n")
	for _, want := range []string{"SCAN spatial VIRTUAL TABLE INDEX 2:", "SEARCH p USING PRIMARY KEY (collection=? AND id=?)"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	// Deleting a collection's boxes looks each up by rowid.
	rows, err = st.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+fmt.Sprintf(deleteBoxesSQL, "SELECT pk FROM collections WHERE pk = ?1 AND spatial > 0"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	plan = nil
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if text := strings.Join(plan, "\n"); !strings.Contains(text, "SCAN spatial VIRTUAL TABLE INDEX 1:") {
		t.Errorf("deleting boxes does not look them up by rowid:\n%s", text)
	}
	for _, line := range plan {
		// Six constraints: two per lon/lat axis and two on time.
		if i := strings.Index(line, "INDEX 2:"); i >= 0 && len(line[i+len("INDEX 2:"):]) != 12 {
			t.Errorf("R*Tree search with constraints %q, want 6", line[i:])
		}
	}
}

// TestSpatialManyBoxes: more than two boxes are kept as one that covers
// them, so the datapoint is still found through each.
func TestSpatialManyBoxes(t *testing.T) {
	st, c, _ := newSpatialStore(t)
	ctx := t.Context()
	bs := []orb.Bound{storetest.Box(0, 0, 1, 1), storetest.Box(10, 10, 11, 11), storetest.Box(-5, 20, -4, 21)}
	dp := storetest.SpatialDatapoint(0, 1, "", bs...)
	if _, err := st.Ingest(ctx, c.ID, []store.Datapoint{dp}, false); err != nil {
		t.Fatal(err)
	}
	if n := boxRows(t, st); n != 1 {
		t.Fatalf("%d boxes, want 1", n)
	}
	for _, b := range bs {
		got, err := st.Query(ctx, store.Query{Collections: []uuid.UUID{c.ID}, From: storetest.MinID, To: storetest.MaxID, Boxes: []orb.Bound{b}})
		if err != nil || len(got) != 1 {
			t.Errorf("box %v: %d datapoints, %v", b, len(got), err)
		}
	}
	if _, err := st.Delete(ctx, c.ID, []store.ID{dp.ID}); err != nil || boxRows(t, st) != 0 {
		t.Fatalf("delete: %v, %d boxes left", err, boxRows(t, st))
	}
}
