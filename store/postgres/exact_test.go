package postgres

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/paulmach/orb"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/store"
	"github.com/granaryhq/granary/store/storetest"
)

// randomShape is a random geometry around a random centre: a star-shaped
// polygon (most), a line, a point or a multipolygon. Centres reach past the
// antimeridian and up to the poles, so that Fix cuts some of them; float
// coordinates keep exact touching (where predicates may legitimately
// differ in the last bit) out of the data.
func randomShape(r *rand.Rand, maxRadius float64) orb.Geometry {
	poly := func() orb.Polygon {
		cx, cy := r.Float64()*400-200, r.Float64()*170-85
		if r.IntN(8) == 0 { // near a pole
			cy = math.Copysign(75+r.Float64()*10, cy)
		}
		rad := 0.05 + r.Float64()*maxRadius
		n := 3 + r.IntN(6)
		var ring orb.Ring
		for k := range n {
			a := 2 * math.Pi * (float64(k) + 0.8*r.Float64()) / float64(n)
			rr := rad * (0.3 + 0.7*r.Float64())
			y := max(-89.99, min(89.99, cy+rr*math.Sin(a)))
			ring = append(ring, orb.Point{cx + rr*math.Cos(a), y})
		}
		return orb.Polygon{append(ring, ring[0])}
	}
	switch k := r.IntN(10); {
	case k < 6:
		return poly()
	case k == 6:
		p := poly()[0]
		return orb.LineString(p[:len(p)-1])
	case k == 7:
		p := poly()[0]
		return p[0]
	case k == 8:
		return orb.MultiPolygon{poly(), poly()}
	default:
		p := poly()[0]
		return orb.MultiPoint(p[:len(p)-1])
	}
}

// fixedWKB fixes g for the plane as the service's filters are fixed (and
// as clients are asked to fix their geometries).
func fixedWKB(t *testing.T, g orb.Geometry) (orb.Geometry, []byte, bool) {
	f, _, err := geo.Fix(g, geo.Flat())
	if err != nil || geo.Validate(f) != nil {
		return nil, nil, false
	}
	wkb, err := geo.MarshalWKB(f)
	if err != nil {
		t.Fatal(err)
	}
	return f, wkb, true
}

// geometryData is canonical-like datapoint bytes: field 1 (a time) and
// field 4, a datasets.v1.Geometry holding wkb.
func geometryData(base []byte, wkb []byte) []byte {
	var msg []byte
	msg = protowire.AppendTag(msg, 1, protowire.BytesType)
	msg = protowire.AppendBytes(msg, wkb)
	data := append([]byte{}, base[:2+int(base[1])]...)
	data = protowire.AppendTag(data, geometryField, protowire.BytesType)
	return protowire.AppendBytes(data, msg)
}

// TestExactSpatialMatchesGeo compares PostGIS's exact cartesian filters
// with geo.Match on random footprints and filters, both modes, including
// rows without a shape (written before schema version 3), which come back
// as candidates for the caller to test. Spherical filters must come back
// as candidates only.
func TestExactSpatialMatchesGeo(t *testing.T) {
	st, _ := openFresh(t, true)
	ctx := t.Context()
	_, c := setup(t, st, "my_org.exact", "main")
	r := rand.New(rand.NewPCG(7, 11))

	var (
		dps    []store.Datapoint
		shapes = map[store.ID]orb.Geometry{}
	)
	for i := 0; len(dps) < 600; i++ {
		g, wkb, ok := fixedWKB(t, randomShape(r, 8))
		if !ok {
			continue
		}
		if i%3 == 0 {
			// Stored as sent: clockwise exteriors (no matter in the plane;
			// on the sphere geo.Match reads them as the other side).
			wkb = reversedWKB(t, g)
		}
		dp := storetest.Datapoint(int64(i)*10, uint64(i), "x")
		dp.Data = geometryData(dp.Data, wkb)
		dp.Bounds = []orb.Bound{g.Bound()}
		shapes[dp.ID] = g
		dps = append(dps, dp)
	}
	// Some without geometry, which never match.
	for i := range 20 {
		dps = append(dps, storetest.Datapoint(int64(10_000+i)*10, uint64(i), "none"))
	}
	// Some with an empty geometry (no index boxes), which never match.
	for i, g := range []orb.Geometry{orb.Polygon{}, orb.MultiPolygon{}, orb.Collection{}, orb.Point{math.NaN(), math.NaN()}} {
		wkb, err := geo.MarshalWKB(g)
		if err != nil {
			t.Fatal(err)
		}
		dp := storetest.Datapoint(int64(20_000+i)*10, uint64(i), "empty")
		dp.Data = geometryData(dp.Data, wkb)
		dps = append(dps, dp)
	}
	if _, err := st.Ingest(ctx, c.ID, dps, false); err != nil {
		t.Fatal(err)
	}
	var shaped int
	// (An empty geometry has no index boxes, hence no shape either.)
	if err := st.pool.QueryRow(ctx, "SELECT count(shape) FROM datapoints").Scan(&shaped); err != nil || shaped != 600 {
		t.Fatalf("%d rows with a shape (%v), want 600", shaped, err)
	}
	// Every 10th as if written before version 3.
	var legacy [][16]byte
	for i := 0; i < 600; i += 10 {
		legacy = append(legacy, dps[i].ID)
	}
	if _, err := st.pool.Exec(ctx, "UPDATE datapoints SET shape = NULL WHERE id = ANY ($1::uuid[])", legacy); err != nil {
		t.Fatal(err)
	}

	var checked int
	matched := map[string]int{}
	var inDB, split int
	for _, g := range shapes {
		if b := g.Bound(); b.Max[0]-b.Min[0] > 180 {
			split++
		}
	}
	for fi := 0; fi < 120; fi++ {
		raw := randomShape(r, 40)
		for _, mode := range []geo.Mode{geo.Intersects, geo.Contains} {
			for _, cs := range []geo.CoordSystem{geo.Cartesian, geo.Spherical} {
				f, err := geo.NewFilter(raw, mode, cs)
				if err != nil {
					continue
				}
				opts := []geo.FixOption{}
				if cs == geo.Cartesian {
					opts = append(opts, geo.Flat())
				}
				fixed, _, err := geo.Fix(raw, opts...)
				if err != nil {
					t.Fatal(err)
				}
				fwkb, err := geo.MarshalWKB(fixed)
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("filter %d %v %v %s", fi, mode, cs, geoWKT(fixed))
				q := store.Query{
					Collections: []uuid.UUID{c.ID}, From: storetest.MinID, To: storetest.MaxID,
					Boxes:   f.Prefilter(),
					Spatial: &store.SpatialFilter{Geometry: fwkb, Contains: mode == geo.Contains, Spherical: cs == geo.Spherical},
				}
				if len(q.Boxes) == 0 {
					continue
				}
				// Pages of 7, as a caller reads them.
				var got []store.ID
				var exact int
				for from := q.From; ; {
					q.From, q.Limit = from, 7
					page, err := st.Query(ctx, q)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					for _, dp := range page {
						ok := dp.SpatialMatch
						if ok {
							exact++
							if cs == geo.Spherical {
								t.Fatalf("%s: spherical filter marked exact", name)
							}

						} else if g := shapes[dp.ID]; g != nil {
							ok = f.Match(g)
						}
						if ok {
							got = append(got, dp.ID)
						}
					}
					if len(page) < 7 {
						break
					}
					next, ok := incrID(page[len(page)-1].ID)
					if !ok {
						break
					}
					from = next
				}
				var want []store.ID
				for _, dp := range dps {
					if g := shapes[dp.ID]; g != nil && f.Match(g) {
						want = append(want, dp.ID)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: got %d matches, want %d; missing %v, extra %v", name, len(got), len(want),
						diffIDs(want, got, shapes), diffIDs(got, want, shapes))
				}
				if cs == geo.Cartesian && exact == 0 && len(want) > len(legacy) {
					t.Errorf("%s: no datapoint tested in the database", name)
				}
				checked++
				matched[fmt.Sprint(mode, "/", cs)] += len(want)
				inDB += exact
			}
		}
	}
	t.Logf("%d datapoints (%d cut at the antimeridian), %d filters; matches %v, %d of them tested in the database", len(shapes), split, checked, matched, inDB)
}

// reversedWKB is the WKB of g with its polygons' exterior rings reversed;
// g is left as it is.
func reversedWKB(t *testing.T, g orb.Geometry) []byte {
	rev := func(p orb.Polygon) orb.Polygon {
		q := slices.Clone(p)
		q[0] = slices.Clone(p[0])
		q[0].Reverse()
		return q
	}
	switch x := g.(type) {
	case orb.Polygon:
		g = rev(x)
	case orb.MultiPolygon:
		m := make(orb.MultiPolygon, len(x))
		for i, p := range x {
			m[i] = rev(p)
		}
		g = m
	}
	wkb, err := geo.MarshalWKB(g)
	if err != nil {
		t.Fatal(err)
	}
	return wkb
}

func diffIDs(a, b []store.ID, shapes map[store.ID]orb.Geometry) []string {
	var out []string
	for _, id := range a {
		if !slices.Contains(b, id) {
			out = append(out, geoWKT(shapes[id]))
		}
	}
	return out
}

func geoWKT(g orb.Geometry) string { return geo.WKT(g) }

func incrID(id store.ID) (store.ID, bool) {
	for i := len(id) - 1; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			return id, true
		}
	}
	return id, false
}

// TestMigrateV2Shapes opens a schema of version 2 that holds a datapoint
// with geometry: migration 3 leaves its shape NULL, and queries return it
// as a candidate for the caller's exact test, next to new datapoints that
// the database tests itself.
func TestMigrateV2Shapes(t *testing.T) {
	url := testURL(t)
	name := newSchemaName()
	t.Cleanup(func() { dropSchema(t, url, name) })
	ctx := t.Context()
	all := migrations
	migrations = all[:2]
	st, err := Open(ctx, url, WithSchema(name))
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	if !st.PostGIS() {
		st.Close()
		t.Skip("PostGIS is not available on the test server")
	}
	_, c := setup(t, st, "my_org.v2", "main")
	in := orb.Polygon{{{1, 1}, {2, 1}, {2, 2}, {1, 2}, {1, 1}}}
	_, inWKB, _ := fixedWKB(t, in)
	old := storetest.Datapoint(0, 1, "old")
	old.Data = geometryData(old.Data, inWKB)
	_, err = st.pool.Exec(ctx, `INSERT INTO datapoints (collection, id, ingestion_time, data, bounds)
		SELECT pk, $2, now(), $3, ST_GeomFromEWKB($4) FROM collections WHERE id = $1`,
		[16]byte(c.ID), [16]byte(old.ID), old.Data, appendEWKB(nil, []orb.Bound{in.Bound()}))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = Open(ctx, url, WithSchema(name))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fresh := storetest.Datapoint(10, 2, "new")
	fresh.Data = geometryData(fresh.Data, inWKB)
	fresh.Bounds = []orb.Bound{in.Bound()}
	if _, err := st.Ingest(ctx, c.ID, []store.Datapoint{fresh}, false); err != nil {
		t.Fatal(err)
	}
	_, fwkb, _ := fixedWKB(t, orb.Polygon{{{0, 0}, {3, 0}, {3, 3}, {0, 3}, {0, 0}}})
	got, err := st.Query(ctx, store.Query{
		Collections: []uuid.UUID{c.ID}, From: storetest.MinID, To: storetest.MaxID,
		Boxes:   []orb.Bound{box(0, 0, 3, 3)},
		Spatial: &store.SpatialFilter{Geometry: fwkb, Contains: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != old.ID || got[0].SpatialMatch || got[1].ID != fresh.ID || !got[1].SpatialMatch {
		t.Fatalf("got %d datapoints %+v; want the old one as a candidate, the new one exact", len(got), got)
	}
}

// BenchmarkExactSpatial reads a page of 100 matches (or all there are) of
// cartesian filters over 50k random footprints: in the database
// ("exact"), and as the boxes prefilter with geo.Match on each candidate in
// batches, as the service does without it ("prefilter+go").
func BenchmarkExactSpatial(b *testing.B) {
	st, _ := openFresh(b, true)
	ctx := b.Context()
	_, c := setup(b, st, "my_org.bench_exact", "main")
	r := rand.New(rand.NewPCG(1, 2))
	var dps []store.Datapoint
	for i := 0; len(dps) < 50_000; i++ {
		g, wkb, ok := fixedWKBB(randomShape(r, 3))
		if !ok {
			continue
		}
		dp := storetest.Datapoint(int64(i)*10, uint64(i), "x")
		dp.Data = geometryData(dp.Data, wkb)
		dp.Bounds = []orb.Bound{g.Bound()}
		dps = append(dps, dp)
	}
	for lo := 0; lo < len(dps); lo += 10_000 {
		if _, err := st.Ingest(ctx, c.ID, dps[lo:lo+10_000], false); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := st.pool.Exec(ctx, "ANALYZE datapoints"); err != nil {
		b.Fatal(err)
	}
	filters := []struct {
		name string
		g    orb.Geometry
		mode geo.Mode
	}{
		{"box1deg", orb.Polygon{{{10, 10}, {11, 10}, {11, 11}, {10, 11}, {10, 10}}}, geo.Intersects},
		{"triangle20deg", orb.Polygon{{{0, 0}, {20, 0}, {0, 20}, {0, 0}}}, geo.Intersects},
		{"thin_diagonal60deg", orb.Polygon{{{0, 0}, {60, 59}, {60, 60}, {59, 60}, {0, 0}}}, geo.Intersects},
		{"antimeridian_contains", orb.Polygon{{{170, -30}, {200, -30}, {200, 30}, {170, 30}, {170, -30}}}, geo.Contains},
		{"world_contains", orb.Polygon{{{-180, -90}, {180, -90}, {180, 90}, {-180, 90}, {-180, -90}}}, geo.Contains},
	}
	for _, fc := range filters {
		f, err := geo.NewFilter(fc.g, fc.mode, geo.Cartesian)
		if err != nil {
			b.Fatal(err)
		}
		fixed, _, _ := geo.Fix(fc.g, geo.Flat())
		fwkb, _ := geo.MarshalWKB(fixed)
		base := store.Query{Collections: []uuid.UUID{c.ID}, From: storetest.MinID, To: storetest.MaxID, Boxes: f.Prefilter()}
		for _, exact := range []bool{true, false} {
			name := fc.name + "/prefilter+go"
			if exact {
				name = fc.name + "/exact"
			}
			b.Run(name, func(b *testing.B) {
				var n int
				for b.Loop() {
					q := base
					if exact {
						q.Spatial = &store.SpatialFilter{Geometry: fwkb, Contains: fc.mode == geo.Contains}
					}
					n = pageOf(b, st, q, f, 100)
				}
				b.ReportMetric(float64(n), "matches")
			})
		}
	}
}

// pageOf reads up to want matches as service.querySpatial does.
func pageOf(b *testing.B, st *Store, q store.Query, f *geo.Filter, want int) int {
	batch := max(want, 256)
	n := 0
	for {
		q.Limit = batch
		cands, err := st.Query(b.Context(), q)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range cands {
			ok := c.SpatialMatch
			if !ok {
				wkb, _ := shapeWKB(c.Data)
				g, err := geo.ParseWKB(wkb)
				if err != nil {
					b.Fatal(err)
				}
				ok = f.Match(g)
			}
			if ok {
				if n++; n == want {
					return n
				}
			}
		}
		if len(cands) < batch {
			return n
		}
		next, ok := incrID(cands[len(cands)-1].ID)
		if !ok {
			return n
		}
		q.From = next
		batch = min(2*batch, max(want, 16384))
	}
}

func fixedWKBB(g orb.Geometry) (orb.Geometry, []byte, bool) {
	f, _, err := geo.Fix(g, geo.Flat())
	if err != nil || geo.Validate(f) != nil {
		return nil, nil, false
	}
	wkb, err := geo.MarshalWKB(f)
	return f, wkb, err == nil
}
