package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
	"github.com/granaryhq/granary/store/postgres/pgtest"
	"github.com/granaryhq/granary/store/storetest"
)

// testURL is the test database (pgtest.URL: skipped without one, failing on CI).
func testURL(t testing.TB) string {
	t.Helper()
	return pgtest.URL(t)
}

// spatial modes the tests run in.
var modes = []struct {
	name    string
	postgis bool
	opts    []Option
}{
	{"postgis", true, nil},
	{"box", false, nil},
	{"postgis_staging_only", true, []Option{WithDirectCopy(false)}},
}

func newSchemaName() string {
	var b [6]byte
	rand.Read(b[:])
	return "granary_test_" + hex.EncodeToString(b[:])
}

// dropSchema removes a test schema.
func dropSchema(t testing.TB, url, name string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Errorf("drop schema %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+quoteIdent(name)+" CASCADE"); err != nil {
		t.Errorf("drop schema %s: %v", name, err)
	}
}

// openFresh opens a store in a new schema of the test database, which is
// dropped when t ends. Without PostGIS on the server a postgis test skips.
func openFresh(t testing.TB, postgis bool, opts ...Option) (*Store, string) {
	t.Helper()
	url := testURL(t)
	name := newSchemaName()
	st, err := Open(t.Context(), url, append([]Option{WithSchema(name), WithPostGIS(postgis)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		dropSchema(t, url, name)
	})
	if postgis && !st.PostGIS() {
		t.Skip("PostGIS is not available on the test server")
	}
	if !postgis && st.PostGIS() {
		t.Fatal("WithPostGIS(false) made a PostGIS schema")
	}
	return st, name
}

func TestConformance(t *testing.T) {
	testURL(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				st, _ := openFresh(t, m.postgis, m.opts...)
				return st
			})
		})
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.Context(), "postgres://u:secret@[::1"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open(bad URL): %v", err)
	}
	// Nothing listens on port 1.
	_, err := Open(t.Context(), "postgres://u:secret@127.0.0.1:1/x?connect_timeout=2")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open of a closed port: %v", err)
	}
}

// TestReopenAndMigrateConcurrently opens one new schema from many stores at
// once: the migrations must serialize, and a reopened store sees the data.
func TestReopenAndMigrateConcurrently(t *testing.T) {
	url := testURL(t)
	name := newSchemaName()
	t.Cleanup(func() { dropSchema(t, url, name) })
	errs := make(chan error, 6)
	for range 6 {
		go func() {
			st, err := Open(t.Context(), url, WithSchema(name), WithMaxConns(2))
			if err == nil {
				st.Close()
			}
			errs <- err
		}()
	}
	for range 6 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st, err := Open(t.Context(), url, WithSchema(name))
	if err != nil {
		t.Fatal(err)
	}
	_, c := setup(t, st, "my_org.measurements", "main")
	if _, err := st.Ingest(t.Context(), c.ID, series(0, 100), false); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = Open(t.Context(), url, WithSchema(name), WithPostGIS(false))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n := count(t, st, c.ID); n != 100 {
		t.Errorf("reopened: %d datapoints, want 100", n)
	}
	var versions int
	if err := st.pool.QueryRow(t.Context(), "SELECT count(*) FROM granary_migrations").Scan(&versions); err != nil || versions != SchemaVersion() {
		t.Errorf("migrations table: %d rows, %v; want %d", versions, err, SchemaVersion())
	}
}

// setup creates a dataset with one collection.
func setup(t testing.TB, st store.Store, slug, collection string) (*schema.Dataset, store.Collection) {
	t.Helper()
	ctx := context.Background()
	group, code := schema.SplitSlug(slug)
	d, err := schema.New(group, code, "Test", schema.SpatioTemporal, []schema.Field{{Name: "value", Type: schema.Float64}})
	if err != nil {
		t.Fatal(err)
	}
	d.ID = uuid.New()
	if err := st.CreateDataset(ctx, d); err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateCollection(ctx, d.ID, collection)
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

// series is n datapoints 10 ms apart.
func series(from, n int) []store.Datapoint {
	out := make([]store.Datapoint, n)
	for i := range out {
		out[i] = datapoint(from + i)
	}
	return out
}

// datapoint i of the test inputs, with a bound for most.
func datapoint(i int) store.Datapoint {
	dp := storetest.Datapoint(int64(i)*10, uint64(i), "w")
	if i%5 != 0 {
		x, y := float64(i%360-180), float64(i%180-90)
		dp.Bounds = []orb.Bound{{Min: orb.Point{x, y}, Max: orb.Point{x + 0.5, y + 0.5}}}
	}
	return dp
}

func count(t testing.TB, st *Store, c uuid.UUID) int64 {
	t.Helper()
	s, err := st.CollectionStats(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return int64(s.Count)
}

// --- spatial ---

func box(x0, y0, x1, y1 float64) orb.Bound {
	return orb.Bound{Min: orb.Point{x0, y0}, Max: orb.Point{x1, y1}}
}

func TestSpatial(t *testing.T) {
	testURL(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testSpatial(t, m.postgis, m.opts...) })
	}
}

func testSpatial(t *testing.T, postgis bool, opts ...Option) {
	st, _ := openFresh(t, postgis, opts...)
	ctx := t.Context()
	d, a := setup(t, st, "my_org.spatial", "a")
	b, err := st.CreateCollection(ctx, d.ID, "b")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(i int, bounds ...orb.Bound) store.Datapoint {
		dp := storetest.Datapoint(int64(i)*1000, uint64(i), "s")
		dp.Bounds = bounds
		return dp
	}
	dps := map[string]store.Datapoint{
		"square":  mk(1, box(10, 10, 20, 20)),
		"point":   mk(2, box(30, 30, 30, 30)),
		"split":   mk(3, box(170, -10, 180, 10), box(-180, -10, -170, 10)),
		"none":    mk(4),
		"line":    mk(5, box(0, 50, 5, 50)),
		"reverse": mk(6, box(-60, -40, -70, -30)), // corners given swapped
		"world":   mk(7, box(-180, -90, 180, 90)),
	}
	var inA []store.Datapoint
	for _, dp := range dps {
		inA = append(inA, dp)
	}
	if _, err := st.Ingest(ctx, a.ID, inA, false); err != nil {
		t.Fatal(err)
	}
	// The same square in b, later.
	inB := mk(100, box(10, 10, 20, 20))
	if _, err := st.Ingest(ctx, b.ID, []store.Datapoint{inB}, false); err != nil {
		t.Fatal(err)
	}
	names := map[store.ID]string{inB.ID: "square@b"}
	for n, dp := range dps {
		names[dp.ID] = n
	}
	for _, tc := range []struct {
		name  string
		boxes []orb.Bound
		cols  []store.Collection
		limit int
		want  []string // in ID order
	}{
		{"inside", []orb.Bound{box(12, 12, 13, 13)}, nil, 0, []string{"square", "world"}},
		{"touching corners", []orb.Bound{box(20, 20, 30, 30)}, nil, 0, []string{"square", "point", "world"}},
		{"touching edge", []orb.Bound{box(20, 0, 25, 15)}, nil, 0, []string{"square", "world"}},
		{"point query on a point", []orb.Bound{box(30, 30, 30, 30)}, nil, 0, []string{"point", "world"}},
		{"point query off", []orb.Bound{box(30, 30.001, 30, 30.001)}, nil, 0, []string{"world"}},
		{"east of the antimeridian", []orb.Bound{box(175, 0, 179, 1)}, nil, 0, []string{"split", "world"}},
		{"west of the antimeridian", []orb.Bound{box(-179, 0, -175, 1)}, nil, 0, []string{"split", "world"}},
		{"between the halves", []orb.Bound{box(-160, 0, 160, 1)}, nil, 0, []string{"world"}},
		{"split query", []orb.Bound{box(179, -1, 180, 1), box(-180, -1, -179.5, 1)}, nil, 0, []string{"split", "world"}},
		{"split query misses", []orb.Bound{box(179, 20, 180, 21), box(-180, 20, -179.5, 21)}, nil, 0, []string{"world"}},
		{"crossing a line", []orb.Bound{box(2, 40, 3, 60)}, nil, 0, []string{"line", "world"}},
		{"swapped corners", []orb.Bound{box(-65, -35, -66, -36)}, nil, 0, []string{"reverse", "world"}},
		{"two boxes", []orb.Bound{box(15, 15, 16, 16), box(1, 49, 2, 51)}, nil, 0, []string{"square", "line", "world"}},
		{"everything with geometry", []orb.Bound{box(-180, -90, 180, 90)}, nil, 0, []string{"square", "point", "split", "line", "reverse", "world"}},
		{"limit", []orb.Bound{box(-180, -90, 180, 90)}, nil, 2, []string{"square", "point"}},
		{"two collections", []orb.Bound{box(12, 12, 13, 13)}, []store.Collection{b}, 0, []string{"square", "world", "square@b"}},
		{"two collections, limit", []orb.Bound{box(12, 12, 13, 13)}, []store.Collection{b}, 2, []string{"square", "world"}},
	} {
		q := store.Query{Collections: []uuid.UUID{a.ID}, From: storetest.MinID, To: storetest.MaxID, Limit: tc.limit, Boxes: tc.boxes}
		for _, c := range tc.cols {
			q.Collections = append(q.Collections, c.ID)
		}
		got, err := st.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var gotNames []string
		for _, dp := range got {
			gotNames = append(gotNames, names[dp.ID])
		}
		if !slices.Equal(gotNames, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, gotNames, tc.want)
		}
	}
	// A time range and boxes together.
	q := store.Query{Collections: []uuid.UUID{a.ID}, From: dps["point"].ID, To: dps["line"].ID, Boxes: []orb.Bound{box(-180, -90, 180, 90)}}
	got, err := st.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if ids := []store.ID{dps["point"].ID, dps["split"].ID, dps["line"].ID}; !slices.Equal(idsOf(got), ids) {
		t.Errorf("time range and boxes: got %d datapoints %v", len(got), idsOf(got))
	}
	// Deleted datapoints leave the spatial index too.
	if _, err := st.Delete(ctx, a.ID, []store.ID{dps["square"].ID}); err != nil {
		t.Fatal(err)
	}
	got, err = st.Query(ctx, store.Query{Collections: []uuid.UUID{a.ID}, From: storetest.MinID, To: storetest.MaxID, Boxes: []orb.Bound{box(12, 12, 13, 13)}})
	if err != nil || len(got) != 1 || got[0].ID != dps["world"].ID {
		t.Errorf("after delete: %v, %v", idsOf(got), err)
	}
}

func idsOf(dps []store.Datapoint) []store.ID {
	out := make([]store.ID, len(dps))
	for i, dp := range dps {
		out[i] = dp.ID
	}
	return out
}

// TestSpatialIndexUsed checks that a selective box query is answered from
// the GiST index, not by reading every datapoint.
func TestSpatialIndexUsed(t *testing.T) {
	testURL(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			st, _ := openFresh(t, m.postgis)
			ctx := t.Context()
			_, c := setup(t, st, "my_org.index", "main")
			if _, err := st.Ingest(ctx, c.ID, series(0, 20_000), false); err != nil {
				t.Fatal(err)
			}
			if _, err := st.pool.Exec(ctx, "ANALYZE datapoints"); err != nil {
				t.Fatal(err)
			}
			q := st.rangeSQL(1, 1, false, exactNone)
			args := append([]any{[16]byte(storetest.MinID), [16]byte(storetest.MaxID), nil, [][16]byte{c.ID}},
				st.boxArgs([]orb.Bound{box(10, 10, 10.2, 10.2)})...)
			rows, err := st.pool.Query(ctx, "EXPLAIN "+q, args...)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			index := "datapoints_bounds"
			if !m.postgis {
				index = "datapoints_b1"
			}
			if !strings.Contains(text, index) {
				t.Errorf("plan does not use %s:\n%s", index, text)
			}
		})
	}
}

func TestEWKB(t *testing.T) {
	// POLYGON((0 0,1 0,1 1,0 1,0 0)) with SRID 4326, little endian.
	got := hex.EncodeToString(appendEWKB(nil, []orb.Bound{box(1, 1, 0, 0)}))
	want := "0103000020e6100000010000000500000000000000000000000000000000000000000000000000f03f0000000000000000000000000000f03f000000000000f03f0000000000000000000000000000f03f00000000000000000000000000000000"
	if got != want {
		t.Errorf("EWKB of a box:\n got %s\nwant %s", got, want)
	}
	if got := appendEWKB(nil, []orb.Bound{box(1, 2, 1, 2)}); !bytes.Equal(got[1:5], []byte{1, 0, 0, 0x20}) || len(got) != 1+4+4+16 {
		t.Errorf("EWKB of a point: %x", got)
	}
	if got := appendEWKB(nil, []orb.Bound{box(0, 0, 1, 1), box(1, 1, 1, 1)}); got[1] != wkbGeometryCollection {
		t.Errorf("EWKB of a box and a point: type %d", got[1])
	}
}

// --- the errors callers map ---

func TestErrorsUnwrapped(t *testing.T) {
	st, _ := openFresh(t, false)
	ctx := t.Context()
	_, c := setup(t, st, "my_org.errs", "main")
	dps := series(0, 3)
	if _, err := st.Ingest(ctx, c.ID, dps, false); err != nil {
		t.Fatal(err)
	}
	_, err := st.Ingest(ctx, c.ID, dps, false)
	var ee *store.ExistsError
	if !errors.As(err, &ee) || err != error(ee) {
		t.Errorf("Ingest of existing IDs: %v, want a bare *store.ExistsError", err)
	}
	_, err = st.Delete(ctx, c.ID, []store.ID{storetest.MinID})
	var me *store.MissingError
	if !errors.As(err, &me) || err != error(me) {
		t.Errorf("Delete of a missing ID: %v, want a bare *store.MissingError", err)
	}
}
