package service_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/paulmach/orb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/granaryhq/granary/geo"
	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/service"
	"github.com/granaryhq/granary/store"
	"github.com/granaryhq/granary/store/postgres"
	"github.com/granaryhq/granary/store/postgres/pgtest"
	"github.com/granaryhq/granary/store/sqlite"
)

// spatialSetup is setup with a spatiotemporal dataset that has a name field.
func spatialSetup(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return spatialSetupOn(t, st)
}

// eachSpatialStore runs fn on SQLite (prefilter in the store, exact test in
// the service) and, when $GRANARY_TEST_POSTGRES names a database, on
// PostgreSQL (with PostGIS: cartesian filters tested in the database).
func eachSpatialStore(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, spatialSetup(t)) })
	if os.Getenv(pgtest.EnvURL) == "" {
		return
	}
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		st, err := postgres.Open(t.Context(), url, postgres.WithSchema(pgtest.Schema(t, url)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, spatialSetupOn(t, st))
	})
}

// spatialSetupOn is spatialSetup on a given store.
func spatialSetupOn(t *testing.T, st store.Store) *fixture {
	t.Helper()
	svc := service.New(st)
	ctx := context.Background()
	s, err := schema.New("", "footprints", "Footprints", schema.SpatioTemporal, []schema.Field{{Name: "name", Type: schema.String}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := svc.CreateDataset(ctx, connect.NewRequest(&datasetsv1.CreateDatasetRequest{Name: "Footprints", CodeName: "footprints", Type: service.ToDatasetType(s)}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := service.FromPBDataset(resp.Msg)
	if err != nil {
		t.Fatal(err)
	}
	md, err := d.MessageDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	col, err := svc.CreateCollection(ctx, connect.NewRequest(&datasetsv1.CreateCollectionRequest{DatasetId: resp.Msg.GetId(), Name: "c"}))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, ds: resp.Msg, md: md, col: col.Msg.GetCollection().GetId(), base: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// footprint encodes a datapoint at base+i seconds named name with geometry
// wkb (none when nil).
func (f *fixture) footprint(t *testing.T, i int, name string, wkb []byte) []byte {
	t.Helper()
	m := dynamicpb.NewMessage(f.md)
	tf := f.md.Fields().ByName("time")
	tm := m.NewField(tf)
	ts := timestamppb.New(f.base.Add(time.Duration(i) * time.Second))
	tm.Message().Set(tm.Message().Descriptor().Fields().ByNumber(1), protoreflect.ValueOfInt64(ts.Seconds))
	m.Set(tf, tm)
	m.Set(f.md.Fields().ByName("name"), protoreflect.ValueOfString(name))
	if wkb != nil {
		gf := f.md.Fields().ByName("geometry")
		gm := m.NewField(gf)
		gm.Message().Set(gm.Message().Descriptor().Fields().ByNumber(1), protoreflect.ValueOfBytes(wkb))
		m.Set(gf, gm)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWKB(t testing.TB, g orb.Geometry) []byte {
	t.Helper()
	b, err := geo.MarshalWKB(g)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWKT(t testing.TB, s string) orb.Geometry {
	t.Helper()
	g, err := geo.ParseWKT(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// ewkb4326 writes g as little-endian EWKB with SRID srid, as the Go client does.
func ewkb(t testing.TB, g orb.Geometry, srid uint32) []byte {
	b := mustWKB(t, g)
	out := append([]byte{b[0]}, binary.LittleEndian.AppendUint32(nil, binary.LittleEndian.Uint32(b[1:5])|0x20000000)...)
	out = binary.LittleEndian.AppendUint32(out, srid)
	return append(out, b[5:]...)
}

// spatialPage is one call's answer.
type spatialPage struct {
	names []string
	ids   [][]byte
	next  *tileboxv1.Pagination
}

// spatialQuery pages through a query with a spatial filter, checking the
// pagination rules on the way, and returns the names in order.
func (f *fixture) spatialQuery(t *testing.T, sf *datasetsv1.SpatialFilter, limit int64) ([]string, error) {
	t.Helper()
	req := &datasetsv1.QueryRequest{DatasetId: f.ds.GetId(), Filters: &datasetsv1.QueryFilters{
		TimeInterval:  &tileboxv1.TimeInterval{StartTime: timestamppb.New(f.base.Add(-time.Hour)), EndTime: timestamppb.New(f.base.Add(100 * 24 * time.Hour))},
		SpatialExtent: sf}}
	if limit > 0 {
		req.Page = &tileboxv1.Pagination{Limit: &limit}
	}
	var names []string
	var last []byte
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatal("paging does not end")
		}
		resp, err := f.svc.Query(context.Background(), connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		vals := resp.Msg.GetData().GetValue()
		next := resp.Msg.GetNextPage()
		if limit > 0 && int64(len(vals)) > limit {
			t.Fatalf("page of %d, limit %d", len(vals), limit)
		}
		if len(vals) == 0 && next != nil {
			t.Fatal("an empty page that is not the last")
		}
		for _, v := range vals {
			m := dynamicpb.NewMessage(f.md)
			if err := proto.Unmarshal(v, m); err != nil {
				t.Fatal(err)
			}
			idm := m.Get(f.md.Fields().ByName("id")).Message()
			id := idm.Get(idm.Descriptor().Fields().ByNumber(1)).Bytes()
			if last != nil && string(id) <= string(last) {
				t.Fatal("ids not ascending")
			}
			last = id
			names = append(names, m.Get(f.md.Fields().ByName("name")).String())
		}
		if next == nil {
			return names, nil
		}
		if string(next.GetStartingAfter().GetUuid()) != string(last) {
			t.Fatal("next_page.starting_after is not the last datapoint returned")
		}
		req.Page = next
	}
}

func filterOf(t testing.TB, g orb.Geometry, mode datasetsv1.SpatialFilterMode, cs datasetsv1.SpatialCoordinateSystem) *datasetsv1.SpatialFilter {
	return &datasetsv1.SpatialFilter{Geometry: &datasetsv1.Geometry{Wkb: mustWKB(t, g)}, Mode: mode, CoordinateSystem: cs}
}

const (
	intersects = datasetsv1.SpatialFilterMode_SPATIAL_FILTER_MODE_INTERSECTS
	contains   = datasetsv1.SpatialFilterMode_SPATIAL_FILTER_MODE_CONTAINS
	cartesian  = datasetsv1.SpatialCoordinateSystem_SPATIAL_COORDINATE_SYSTEM_CARTESIAN
	spherical  = datasetsv1.SpatialCoordinateSystem_SPATIAL_COORDINATE_SYSTEM_SPHERICAL
)

// wideBox is geo.BBoxPolygon with a vertex every degree along the edges.
func wideBox(w, s, e, n float64) orb.Geometry {
	densify := func(p orb.Polygon) orb.Polygon {
		var r orb.Ring
		for i := 0; i+1 < len(p[0]); i++ {
			a, b := p[0][i], p[0][i+1]
			k := max(1, int(math.Ceil(math.Abs(b[0]-a[0]))))
			for j := range k {
				r = append(r, orb.Point{a[0] + float64(j)/float64(k)*(b[0]-a[0]), a[1] + float64(j)/float64(k)*(b[1]-a[1])})
			}
		}
		return orb.Polygon{append(r, r[0])}
	}
	switch g := geo.BBoxPolygon(w, s, e, n).(type) {
	case orb.Polygon:
		return densify(g)
	case orb.MultiPolygon:
		return orb.MultiPolygon{densify(g[0]), densify(g[1])}
	}
	panic("unreachable")
}

func mustFix(t testing.TB, g orb.Geometry) orb.Geometry {
	t.Helper()
	fixed, _, err := geo.Fix(g)
	if err != nil {
		t.Fatal(err)
	}
	if err := geo.Validate(fixed); err != nil {
		t.Fatal(err)
	}
	return fixed
}

func TestSpatialIngestValidation(t *testing.T) {
	f := spatialSetup(t)
	good := f.footprint(t, 0, "good", mustWKB(t, mustWKT(t, "POLYGON ((10 50, 12 50, 12 52, 10 52, 10 50))")))
	for name, tc := range map[string]struct {
		wkb  []byte
		want string
	}{
		"garbage":      {[]byte{1, 2, 3}, "wkb"},
		"truncated":    {mustWKB(t, mustWKT(t, "POLYGON ((10 50, 12 50, 12 52, 10 52, 10 50))"))[:30], "wkb"},
		"latitude":     {mustWKB(t, orb.Point{10, 95}), "latitude"},
		"open ring":    {mustWKB(t, orb.Polygon{{{0, 0}, {1, 0}, {1, 1}, {0, 1}}}), "not closed"},
		"other SRID":   {ewkb(t, orb.Point{10, 50}, 3857), "SRID 3857"},
		"Z ordinates":  {[]byte{1, 0xe9, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "Z/M"},
		"few vertices": {mustWKB(t, orb.Polygon{{{0, 0}, {1, 0}, {0, 0}}}), "at least 4"},
	} {
		_, err := f.ingest(t, true, good, f.footprint(t, 1, name, tc.wkb))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "values[1]") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want invalid_argument naming values[1] and %q", name, err, tc.want)
		}
	}
	if n := f.count(t); n != 0 {
		t.Fatalf("a failed call stored %d datapoints", n)
	}
	// EWKB with SRID 4326 or 0, plain WKB, and no geometry at all are fine.
	r, err := f.ingest(t, false, good,
		f.footprint(t, 2, "ewkb", ewkb(t, orb.Point{13, 52}, 4326)),
		f.footprint(t, 3, "srid 0", ewkb(t, orb.Point{13, 52}, 0)),
		f.footprint(t, 4, "none", nil))
	if err != nil || r.GetNumCreated() != 4 {
		t.Fatalf("valid values: %v, %v", r, err)
	}
	// Geometries are stored as sent: an uncut box across the antimeridian
	// keeps its bytes, and so its ID.
	crossing := mustWKB(t, mustWKT(t, "POLYGON ((170 -10, -170 -10, -170 10, 170 10, 170 -10))"))
	r, err = f.ingest(t, false, f.footprint(t, 5, "crossing", crossing))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.svc.QueryByID(context.Background(), connect.NewRequest(&datasetsv1.QueryByIDRequest{DatasetId: f.ds.GetId(), Id: r.GetDatapointIds()[0]}))
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(f.md)
	proto.Unmarshal(resp.Msg.GetValue(), m)
	gm := m.Get(f.md.Fields().ByName("geometry")).Message()
	if got := gm.Get(gm.Descriptor().Fields().ByNumber(1)).Bytes(); string(got) != string(crossing) {
		t.Fatal("the stored geometry differs from the one sent")
	}
}

func TestSpatialFilterErrors(t *testing.T) {
	f := spatialSetup(t)
	if _, err := f.ingest(t, false, f.footprint(t, 0, "a", mustWKB(t, orb.Point{1, 1}))); err != nil {
		t.Fatal(err)
	}
	box := mustWKB(t, geo.BBoxPolygon(0, 0, 2, 2))
	for name, sf := range map[string]*datasetsv1.SpatialFilter{
		"no geometry":  {},
		"bad wkb":      {Geometry: &datasetsv1.Geometry{Wkb: []byte{1, 3, 0}}},
		"other SRID":   {Geometry: &datasetsv1.Geometry{Wkb: ewkb(t, geo.BBoxPolygon(0, 0, 2, 2), 3857)}},
		"latitude":     {Geometry: &datasetsv1.Geometry{Wkb: mustWKB(t, orb.Point{0, 100})}},
		"unknown mode": {Geometry: &datasetsv1.Geometry{Wkb: box}, Mode: 7},
		"unknown cs":   {Geometry: &datasetsv1.Geometry{Wkb: box}, CoordinateSystem: 9},
	} {
		if _, err := f.spatialQuery(t, sf, 0); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: %v, want invalid_argument", name, err)
		}
	}
	names, err := f.spatialQuery(t, &datasetsv1.SpatialFilter{Geometry: &datasetsv1.Geometry{Wkb: ewkb(t, geo.BBoxPolygon(0, 0, 2, 2), 4326)}}, 0)
	if err != nil || !slices.Equal(names, []string{"a"}) {
		t.Errorf("EWKB filter, unspecified mode and system: %v, %v", names, err)
	}

	// The whole sphere (s2's full polygon, which has no index).
	for _, mode := range []datasetsv1.SpatialFilterMode{intersects, contains} {
		names, err = f.spatialQuery(t, filterOf(t, wideBox(-180, -90, 180, 90), mode, spherical), 0)
		if err != nil || !slices.Equal(names, []string{"a"}) {
			t.Errorf("the whole sphere, %v: %v, %v", mode, names, err)
		}
	}

	// A 3-D filter (ISO WKB POLYGON Z) filters by its footprint.
	z := []byte{1, 0xeb, 3, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0}
	for _, p := range [][3]float64{{0, 0, 9}, {2, 0, 9}, {2, 2, 9}, {0, 2, 9}, {0, 0, 9}} {
		for _, v := range p {
			z = binary.LittleEndian.AppendUint64(z, math.Float64bits(v))
		}
	}
	names, err = f.spatialQuery(t, &datasetsv1.SpatialFilter{Geometry: &datasetsv1.Geometry{Wkb: z}}, 0)
	if err != nil || !slices.Equal(names, []string{"a"}) {
		t.Errorf("3-D filter: %v, %v", names, err)
	}

	// A temporal dataset has no geometry to filter.
	tf := setup(t)
	_, err = tf.svc.Query(context.Background(), connect.NewRequest(&datasetsv1.QueryRequest{DatasetId: tf.ds.GetId(), Filters: &datasetsv1.QueryFilters{
		TimeInterval:  &tileboxv1.TimeInterval{StartTime: timestamppb.New(tf.base), EndTime: timestamppb.New(tf.base.Add(time.Hour))},
		SpatialExtent: &datasetsv1.SpatialFilter{Geometry: &datasetsv1.Geometry{Wkb: box}}}}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "temporal") {
		t.Errorf("spatial filter on a temporal dataset: %v", err)
	}
}

// TestSpatialKnownAnswers checks hand-made footprints across the
// antimeridian and near the poles against answers worked out by hand, in
// both modes and both coordinate systems.
func TestSpatialKnownAnswers(t *testing.T) { eachSpatialStore(t, testSpatialKnownAnswers) }

func testSpatialKnownAnswers(t *testing.T, f *fixture) {
	// The footprints are fixed (cut at the antimeridian, closed over the
	// pole) as the client-side ingest leaves them.
	footprints := []struct {
		name string
		g    orb.Geometry
	}{
		{"berlin", mustWKT(t, "POLYGON ((13 52, 14 52, 14 53, 13 53, 13 52))")},
		// 170°E–170°W, cut in two.
		{"pacific", mustFix(t, mustWKT(t, "POLYGON ((170 -10, -170 -10, -170 10, 170 10, 170 -10))"))},
		// A ring of four vertices at 80°N, closed over the pole. In the
		// plane it covers everything north of 80°; on the sphere its edges
		// are great circles that bulge north to 82.9° mid-way between the
		// vertices at -180, -90, 0 and 90.
		{"north cap", mustFix(t, orb.Polygon{{{-135, 80}, {-45, 80}, {45, 80}, {135, 80}, {-135, 80}}})},
		// The same at 80°S.
		{"south cap", mustFix(t, orb.Polygon{{{135, -80}, {45, -80}, {-45, -80}, {-135, -80}, {135, -80}}})},
		{"point", orb.Point{100, 0}},
		{"seam point", orb.Point{180, 5}},
		{"no geometry", nil},
		// A strip along the equator over the antimeridian, cut, that a
		// query box over the Pacific contains.
		{"strip", mustFix(t, mustWKT(t, "POLYGON ((175 -1, -175 -1, -175 1, 175 1, 175 -1))"))},
	}
	var values [][]byte
	for i, fp := range footprints {
		var wkb []byte
		if fp.g != nil {
			wkb = mustWKB(t, fp.g)
		}
		values = append(values, f.footprint(t, i, fp.name, wkb))
	}
	if _, err := f.ingest(t, false, values...); err != nil {
		t.Fatal(err)
	}
	type answers struct{ intersects, contains []string }
	both := func(a answers) [2]answers { return [2]answers{a, a} }
	cases := []struct {
		name   string
		filter orb.Geometry
		want   [2]answers // cartesian, spherical
	}{
		{"berlin box", geo.BBoxPolygon(12, 51, 15, 54), both(answers{[]string{"berlin"}, []string{"berlin"}})},
		{"inside berlin", geo.BBoxPolygon(13.2, 52.2, 13.8, 52.8), both(answers{[]string{"berlin"}, nil})},
		{"point in berlin", orb.Point{13.5, 52.5}, both(answers{[]string{"berlin"}, nil})},
		// W > E: a box over the Pacific, cut by BBoxPolygon.
		{"pacific bbox", geo.BBoxPolygon(160, -20, -160, 20), both(answers{[]string{"pacific", "seam point", "strip"}, []string{"pacific", "seam point", "strip"}})},
		// The same region written as one uncut ring: the service fixes it.
		{"pacific ring", mustWKT(t, "POLYGON ((160 -20, -160 -20, -160 20, 160 20, 160 -20))"), both(answers{[]string{"pacific", "seam point", "strip"}, []string{"pacific", "seam point", "strip"}})},
		{"east of the seam", geo.BBoxPolygon(172, -5, 178, 5), both(answers{[]string{"pacific", "strip"}, nil})},
		{"west of the seam", geo.BBoxPolygon(-178, -5, -172, 5), both(answers{[]string{"pacific", "strip"}, nil})},
		{"narrow box over the seam", geo.BBoxPolygon(179, -2, -179, 2), both(answers{[]string{"pacific", "strip"}, nil})},
		{"away from the seam", geo.BBoxPolygon(0, -20, 20, 20), both(answers{nil, nil})},
		// Between 80° and 82.9° at 0°E: inside the cap in the plane,
		// outside it on the sphere.
		{"under the cap's bulge", geo.BBoxPolygon(-1, 80.5, 1, 81.5), [2]answers{{[]string{"north cap"}, nil}, {nil, nil}}},
		{"near the north pole", geo.BBoxPolygon(-10, 88, 10, 89), both(answers{[]string{"north cap"}, nil})},
		// Boxes wider than 180° need vertices along their edges: an edge
		// is read the short way round (RFC 7946), as the client's --bbox
		// and orb.Bound filters send them.
		{"all of the arctic", wideBox(-180, 75, 180, 90), both(answers{[]string{"north cap"}, []string{"north cap"}})},
		{"near the south pole", geo.BBoxPolygon(100, -89, 120, -85), both(answers{[]string{"south cap"}, nil})},
		{"point at the south pole", orb.Point{0, -90}, both(answers{[]string{"south cap"}, nil})},
		// All longitudes but 95°E–120°E (W > E), up to 85°: the caps reach in.
		{"most of the world, round the back", wideBox(120, -85, 95, 85), both(answers{
			[]string{"berlin", "pacific", "north cap", "south cap", "seam point", "strip"},
			[]string{"berlin", "pacific", "seam point", "strip"}})},
		{"the tropics", wideBox(-180, -30, 180, 30), both(answers{[]string{"pacific", "point", "seam point", "strip"}, []string{"pacific", "point", "seam point", "strip"}})},
	}
	for _, tc := range cases {
		for ci, cs := range []datasetsv1.SpatialCoordinateSystem{cartesian, spherical} {
			for _, mode := range []datasetsv1.SpatialFilterMode{intersects, contains} {
				want := tc.want[ci].intersects
				if mode == contains {
					want = tc.want[ci].contains
				}
				got, err := f.spatialQuery(t, filterOf(t, tc.filter, mode, cs), 0)
				if err != nil {
					t.Fatalf("%s %v %v: %v", tc.name, mode, cs, err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s, %v, %v: got %v, want %v", tc.name, mode, cs, got, want)
				}
			}
		}
	}
}

// TestSpatialPagination: a small limit over many candidates that pass the
// index but fail the exact test.
func TestSpatialPagination(t *testing.T) { eachSpatialStore(t, testSpatialPagination) }

func testSpatialPagination(t *testing.T, f *fixture) {
	// Triangles whose bounding box covers the query box but whose area
	// (x + y ≥ 3) misses it, and every 37th a small box inside it.
	miss := mustWKB(t, orb.Polygon{{{3, 0}, {3, 3}, {0, 3}, {3, 0}}})
	hit := mustWKB(t, geo.BBoxPolygon(0.25, 0.25, 0.5, 0.5))
	var values [][]byte
	var want []string
	for i := range 1500 {
		switch {
		case i%37 == 5:
			values = append(values, f.footprint(t, i, fmt.Sprint("hit ", i), hit))
			want = append(want, fmt.Sprint("hit ", i))
		case i%50 == 0:
			values = append(values, f.footprint(t, i, fmt.Sprint("none ", i), nil))
		default:
			values = append(values, f.footprint(t, i, fmt.Sprint("miss ", i), miss))
		}
	}
	if _, err := f.ingest(t, false, values...); err != nil {
		t.Fatal(err)
	}
	for _, cs := range []datasetsv1.SpatialCoordinateSystem{cartesian, spherical} {
		for _, limit := range []int64{1, 3, int64(len(want)), 1000, 0} {
			got, err := f.spatialQuery(t, filterOf(t, geo.BBoxPolygon(0, 0, 1, 1), intersects, cs), limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%v, limit %d: got %d datapoints %v, want %d", cs, limit, len(got), got, len(want))
			}
		}
	}
	// Exactly one page when the limit equals the number of matches.
	limit := int64(len(want))
	resp, err := f.svc.Query(context.Background(), connect.NewRequest(&datasetsv1.QueryRequest{DatasetId: f.ds.GetId(),
		Filters: &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{StartTime: timestamppb.New(f.base), EndTime: timestamppb.New(f.base.Add(time.Hour))},
			SpatialExtent: filterOf(t, geo.BBoxPolygon(0, 0, 1, 1), intersects, cartesian)},
		Page: &tileboxv1.Pagination{Limit: &limit}}))
	if err != nil || len(resp.Msg.GetData().GetValue()) != len(want) || resp.Msg.GetNextPage() != nil {
		t.Fatalf("limit = matches: %v, next %v", err, resp.Msg.GetNextPage())
	}
	// A time interval narrows the spatial query.
	resp, err = f.svc.Query(context.Background(), connect.NewRequest(&datasetsv1.QueryRequest{DatasetId: f.ds.GetId(),
		Filters: &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{StartTime: timestamppb.New(f.base.Add(40 * time.Second)), EndTime: timestamppb.New(f.base.Add(80 * time.Second))},
			SpatialExtent: filterOf(t, geo.BBoxPolygon(0, 0, 1, 1), intersects, cartesian)}}))
	if err != nil || len(resp.Msg.GetData().GetValue()) != 2 {
		t.Fatalf("time interval and spatial filter: %d datapoints, %v; want 2 (hits 42 and 79)", len(resp.Msg.GetData().GetValue()), err)
	}
}

// randomFootprint is a MODIS-like quadrilateral somewhere on the globe,
// possibly across the antimeridian or around a pole, fixed.
func randomFootprint(t testing.TB, r *rand.Rand) orb.Geometry {
	for {
		var ring orb.Ring
		switch r.IntN(10) {
		case 0: // around a pole
			lat := 70 + r.Float64()*18
			n := 4 + r.IntN(8)
			start := r.Float64() * 360
			for k := range n {
				ring = append(ring, orb.Point{start + float64(k)*360/float64(n), lat})
			}
			if r.IntN(2) == 0 {
				for k := range ring {
					ring[k][1] = -ring[k][1]
				}
				slices.Reverse(ring)
			}
		default:
			cx, cy := r.Float64()*360-180, r.Float64()*170-85
			if r.IntN(5) == 0 {
				cx = 180 + (r.Float64()*2-1)*15 // near the antimeridian
			}
			w, h := 1+r.Float64()*12, 1+r.Float64()*10
			rot := r.Float64() * math.Pi
			for _, c := range [][2]float64{{-1, -1}, {1, -1}, {1, 1}, {-1, 1}} {
				dx, dy := c[0]*w, c[1]*h
				x := cx + dx*math.Cos(rot) - dy*math.Sin(rot)
				y := math.Max(-89.5, math.Min(89.5, cy+dx*math.Sin(rot)+dy*math.Cos(rot)))
				ring = append(ring, orb.Point{x, y})
			}
		}
		ring = append(ring, ring[0])
		fixed, _, err := geo.Fix(orb.Polygon{ring})
		if err != nil || geo.Validate(fixed) != nil {
			continue
		}
		return fixed
	}
}

// TestSpatialRandomized compares the indexed query with a brute-force scan
// that runs geo.Match on every stored footprint.
func TestSpatialRandomized(t *testing.T) { eachSpatialStore(t, testSpatialRandomized) }

func testSpatialRandomized(t *testing.T, f *fixture) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 3000
	footprints := make([]orb.Geometry, n)
	var values [][]byte
	for i := range footprints {
		var wkb []byte
		if i%40 != 0 { // some without geometry
			footprints[i] = randomFootprint(t, r)
			wkb = mustWKB(t, footprints[i])
		}
		values = append(values, f.footprint(t, i*60, fmt.Sprint(i), wkb))
	}
	for lo := 0; lo < n; lo += 1000 {
		if _, err := f.ingest(t, false, values[lo:lo+1000]...); err != nil {
			t.Fatal(err)
		}
	}
	queries := 0
	for q := range 60 {
		var filter orb.Geometry
		switch r.IntN(3) {
		case 0: // a bbox, W > E across the antimeridian
			w, s := r.Float64()*360-180, r.Float64()*170-90
			e := w + 1 + r.Float64()*60
			if e > 180 {
				e -= 360
			}
			filter = geo.BBoxPolygon(w, s, e, math.Min(90, s+1+r.Float64()*40))
		default:
			filter = randomFootprint(t, r)
		}
		mode := []datasetsv1.SpatialFilterMode{intersects, contains}[r.IntN(2)]
		cs := []datasetsv1.SpatialCoordinateSystem{cartesian, spherical}[r.IntN(2)]
		gmode := map[datasetsv1.SpatialFilterMode]geo.Mode{intersects: geo.Intersects, contains: geo.Contains}[mode]
		gcs := map[datasetsv1.SpatialCoordinateSystem]geo.CoordSystem{cartesian: geo.Cartesian, spherical: geo.Spherical}[cs]
		// The service fixes the filter as geo.NewFilter does.
		var opts []geo.FixOption
		if gcs == geo.Cartesian {
			opts = append(opts, geo.Flat())
		}
		fixedFilter, _, err := geo.Fix(filter, opts...)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i, g := range footprints {
			if g != nil && geo.Match(fixedFilter, g, gmode, gcs) {
				want = append(want, fmt.Sprint(i))
			}
		}
		limit := []int64{0, 5, 100}[r.IntN(3)]
		got, err := f.spatialQuery(t, filterOf(t, filter, mode, cs), limit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("query %d (%s, %v, %v, limit %d): %d datapoints, brute force %d\ngot  %v\nwant %v", q, geo.WKT(filter), mode, cs, limit, len(got), len(want), got, want)
		}
		if len(want) > 0 {
			queries++
		}
	}
	if queries < 20 {
		t.Errorf("only %d of the random queries matched anything", queries)
	}
}
