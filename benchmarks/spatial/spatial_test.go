// Package spatial_test measures granary's spatial queries: a query over N
// stored MODIS-like footprints through the service (R*Tree prefilter in
// store/sqlite, exact geo test per candidate) against a full scan that reads
// every datapoint and runs the exact test on it, and what the spatial index
// adds to ingest.
//
// Run (N = 200 000 footprints by default; GRANARY_BENCH_ROWS=1000000 for a
// million, which takes a few minutes to generate and ingest):
//
//	go test -bench . -benchtime=3x -run '^$' ./benchmarks/spatial/
//
// Each op of BenchmarkSpatialQuery is a whole query, all pages; the
// x_vs_scan metric of an indexed run is the scan's time over its own for
// the same query. BenchmarkSpatialIngest reports ns/datapoint.
//
// The footprints follow a sun-synchronous orbit (98.2°, 98.8 min) in
// 5-minute granules of a 2330 km swath, 288 a day, cut at the antimeridian
// and closed over the poles as ingest leaves them.
//
// Results on the project's 2-vCPU machine (shared and busy, so ±30%); the
// whole time range unless a query says otherwise, all pages:
//
//	                                 200k footprints           1M footprints
//	                                 indexed   scan   ratio    indexed  scan   ratio
//	1° box (2 348 / 11 701 matches)  43 ms     1.36 s   32     0.33 s   4.5 s    13
//	10° box, Europe                  86 ms     1.18 s   14     0.47 s   4.0 s     9
//	10° box across the antimeridian  49 ms     1.07 s   22     0.39 s   4.7 s    12
//	30° box, contains (0 matches)    159 ms    0.60 s  3.8     0.56 s   2.4 s   4.3
//	arctic cap, spherical            1.0 s     2.6 s   2.5     2.0 s    7.4 s   3.6
//	10° box, one day                 0.6 ms    2.0 ms  3.3     0.5 ms   1.3 ms  2.5
//	10° box, first page of 100       5.7 ms    67 ms    12     2.6 ms   32 ms    12
//	world, first page of 100         4.2 ms    26 ms   6.3     6.3 ms   17 ms   2.6
//
// About half of an indexed query is SQLite (~8 µs a candidate at 1M: the
// R*Tree search is ~1 µs, the rest reading each candidate's auxiliary
// columns and its datapoint at random), half the exact test; spherical
// tests cost ~3 times planar ones. Ingest, per datapoint, 100k MODIS-like
// footprints: store 31 µs with Bounds against 6 µs without (the R*Tree
// insert is ~25 µs); service 37 µs with geometry (parse, validate,
// spherical bounds, index) against 4 µs without. Delete: 53 µs with boxes,
// 5.5 µs without (unchanged: collections without boxes skip the index).
package spatial_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/paulmach/orb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/geo"
	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/service"
	"github.com/granaryhq/granary/store"
	"github.com/granaryhq/granary/store/sqlite"
)

// rows is the number of footprints: GRANARY_BENCH_ROWS, default 200 000.
func rows() int {
	if n, err := strconv.Atoi(os.Getenv("GRANARY_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 200_000
}

var start = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

const granule = 5 * time.Minute

// Orbit and swath of a MODIS-like instrument.
const (
	inclination = 98.2 * math.Pi / 180
	period      = 98.8            // minutes
	earthDay    = 1436.07         // sidereal minutes
	halfSwath   = 1165.0 / 6371.0 // radians
	deg         = 180 / math.Pi
)

// track is the sub-satellite point t minutes after the first granule.
func track(t, lon0 float64) (lat, lon float64) {
	u := 2 * math.Pi * t / period
	lat = math.Asin(math.Sin(inclination) * math.Sin(u))
	lon = lon0 + math.Atan2(math.Cos(inclination)*math.Sin(u), math.Cos(u)) - 2*math.Pi*t/earthDay
	return lat, lon
}

// dest is the point at angular distance d from (lat, lon) on bearing theta.
func dest(lat, lon, theta, d float64) orb.Point {
	lat2 := math.Asin(math.Sin(lat)*math.Cos(d) + math.Cos(lat)*math.Sin(d)*math.Cos(theta))
	lon2 := lon + math.Atan2(math.Sin(theta)*math.Sin(d)*math.Cos(lat), math.Cos(d)-math.Sin(lat)*math.Sin(lat2))
	return orb.Point{math.Remainder(lon2*deg, 360), lat2 * deg}
}

func bearing(lat1, lon1, lat2, lon2 float64) float64 {
	y := math.Sin(lon2-lon1) * math.Cos(lat2)
	x := math.Cos(lat1)*math.Sin(lat2) - math.Sin(lat1)*math.Cos(lat2)*math.Cos(lon2-lon1)
	return math.Atan2(y, x)
}

// footprint is granule k's swath quadrilateral, fixed; nil if Fix rejects it.
func footprint(k int) orb.Geometry {
	t0 := float64(k) * granule.Minutes()
	t1 := t0 + granule.Minutes()
	lat0, lon0 := track(t0, 0.3)
	lat1, lon1 := track(t1, 0.3)
	b0 := bearing(lat0, lon0, lat1, lon1)
	b1 := bearing(lat1, lon1, lat0, lon0) + math.Pi // onward at the end
	ring := orb.Ring{
		dest(lat0, lon0, b0+math.Pi/2, halfSwath),
		dest(lat1, lon1, b1+math.Pi/2, halfSwath),
		dest(lat1, lon1, b1-math.Pi/2, halfSwath),
		dest(lat0, lon0, b0-math.Pi/2, halfSwath),
	}
	ring = append(ring, ring[0])
	g, _, err := geo.Fix(orb.Polygon{ring})
	if err != nil || geo.Validate(g) != nil {
		return nil
	}
	return g
}

// value is granule k as canonical datapoint bytes: time, geometry and a
// name, ~300 bytes like a real catalogue entry with a few more fields.
func value(k int, g orb.Geometry) []byte {
	t := start.Add(time.Duration(k) * granule)
	var b []byte
	var ts []byte
	ts = protowire.AppendTag(ts, 1, protowire.VarintType)
	ts = protowire.AppendVarint(ts, uint64(t.Unix()))
	b = protowire.AppendTag(b, schema.NumberTime, protowire.BytesType)
	b = protowire.AppendBytes(b, ts)
	if g != nil {
		wkb, err := geo.MarshalWKB(g)
		if err != nil {
			panic(err)
		}
		var gm []byte
		gm = protowire.AppendTag(gm, 1, protowire.BytesType)
		gm = protowire.AppendBytes(gm, wkb)
		b = protowire.AppendTag(b, schema.NumberGeometry, protowire.BytesType)
		b = protowire.AppendBytes(b, gm)
	}
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	return protowire.AppendBytes(b, fmt.Appendf(nil, "MOD09GA.A%s.h%02dv%02d.061.%019d", t.Format("2006002.1504"), k%36, k%18, k))
}

// corpus is the generated footprints and their values, made once.
var corpus = sync.OnceValue(func() [][]byte {
	n := rows()
	out := make([][]byte, n)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for k := w; k < n; k += 2 {
				out[k] = value(k, footprint(k))
			}
		})
	}
	wg.Wait()
	return out
})

type fixture struct {
	st  *sqlite.Store
	svc *service.Service
	ds  *tileboxv1.ID
	col uuid.UUID
	dir string
}

func newFixture(tb testing.TB, dir string) *fixture {
	st, err := sqlite.Open(filepath.Join(dir, "granary.db"))
	if err != nil {
		tb.Fatal(err)
	}
	svc := service.New(st)
	ctx := context.Background()
	s, err := schema.New("", "modis", "MODIS-like granules", schema.SpatioTemporal, []schema.Field{{Name: "granule", Type: schema.String}})
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := svc.CreateDataset(ctx, connect.NewRequest(&datasetsv1.CreateDatasetRequest{Name: "MODIS", CodeName: "modis", Type: service.ToDatasetType(s)}))
	if err != nil {
		tb.Fatal(err)
	}
	col, err := svc.CreateCollection(ctx, connect.NewRequest(&datasetsv1.CreateCollectionRequest{DatasetId: resp.Msg.GetId(), Name: "terra"}))
	if err != nil {
		tb.Fatal(err)
	}
	cid, _ := uuid.FromBytes(col.Msg.GetCollection().GetId().GetUuid())
	return &fixture{st: st, svc: svc, ds: resp.Msg.GetId(), col: cid, dir: dir}
}

func (f *fixture) ingest(tb testing.TB, values [][]byte) {
	for lo := 0; lo < len(values); lo += service.MaxValuesPerCall {
		_, err := f.svc.Ingest(context.Background(), connect.NewRequest(&datasetsv1.IngestRequest{
			CollectionId: &tileboxv1.ID{Uuid: f.col[:]}, Values: values[lo:min(lo+service.MaxValuesPerCall, len(values))]}))
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// loaded is the store with the whole corpus, made once per process.
var (
	loadOnce sync.Once
	loaded   *fixture
)

func TestMain(m *testing.M) {
	code := m.Run()
	if loaded != nil {
		loaded.st.Close()
		os.RemoveAll(loaded.dir)
	}
	os.Exit(code)
}

func load(b *testing.B) *fixture {
	loadOnce.Do(func() {
		dir, err := os.MkdirTemp("", "granary-spatial-bench")
		if err != nil {
			b.Fatal(err)
		}
		values := corpus()
		f := newFixture(b, dir)
		t0 := time.Now()
		f.ingest(b, values)
		b.Logf("%d footprints over %.0f days ingested in %v", len(values), float64(len(values))*granule.Hours()/24, time.Since(t0).Round(time.Millisecond))
		loaded = f
	})
	if loaded == nil {
		b.Fatal("no store")
	}
	return loaded
}

type spatialQuery struct {
	name     string
	area     orb.Geometry
	mode     geo.Mode
	cs       geo.CoordSystem
	from, to time.Time
	limit    int64 // 0: all pages, else only the first page of this size
}

// wideBox is geo.BBoxPolygon with a vertex every degree along its edges,
// as the CLI sends a --bbox.
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

func queries() []spatialQuery {
	end := start.Add(time.Duration(rows()) * granule)
	mid := start.Add(end.Sub(start) / 2)
	return []spatialQuery{
		{name: "berlin_1deg", area: geo.BBoxPolygon(13, 52, 14, 53), from: start, to: end},
		{name: "europe_10deg", area: geo.BBoxPolygon(5, 45, 15, 55), from: start, to: end},
		{name: "europe_10deg_contains", area: geo.BBoxPolygon(-5, 35, 25, 65), mode: geo.Contains, from: start, to: end},
		{name: "pacific_across_antimeridian", area: geo.BBoxPolygon(175, -5, -175, 5), from: start, to: end},
		{name: "arctic_spherical", area: wideBox(-180, 85, 180, 90), cs: geo.Spherical, from: start, to: end},
		{name: "europe_10deg_one_day", area: geo.BBoxPolygon(5, 45, 15, 55), from: mid, to: mid.Add(24 * time.Hour)},
		{name: "europe_10deg_first_100", area: geo.BBoxPolygon(5, 45, 15, 55), from: start, to: end, limit: 100},
		{name: "world_first_100", area: wideBox(-180, -85, 180, 85), from: start, to: end, limit: 100},
	}
}

// indexed runs q through the service; it returns the datapoints matched.
func (f *fixture) indexed(b *testing.B, q spatialQuery) int {
	wkb, err := geo.MarshalWKB(q.area)
	if err != nil {
		b.Fatal(err)
	}
	req := &datasetsv1.QueryRequest{DatasetId: f.ds, Filters: &datasetsv1.QueryFilters{
		TimeInterval: &tileboxv1.TimeInterval{StartTime: timestamppb.New(q.from), EndTime: timestamppb.New(q.to)},
		SpatialExtent: &datasetsv1.SpatialFilter{Geometry: &datasetsv1.Geometry{Wkb: wkb},
			Mode: datasetsv1.SpatialFilterMode(q.mode + 1), CoordinateSystem: datasetsv1.SpatialCoordinateSystem(q.cs + 1)}}}
	if q.limit > 0 {
		req.Page = &tileboxv1.Pagination{Limit: &q.limit}
	}
	n := 0
	for {
		resp, err := f.svc.Query(context.Background(), connect.NewRequest(req))
		if err != nil {
			b.Fatal(err)
		}
		n += len(resp.Msg.GetData().GetValue())
		if resp.Msg.GetNextPage() == nil || q.limit > 0 {
			return n
		}
		req.Page = resp.Msg.GetNextPage()
	}
}

// scan reads every datapoint of the time range from the store and tests
// its geometry with the exact filter: the query without an index.
func (f *fixture) scan(b *testing.B, q spatialQuery) int {
	filter, err := geo.NewFilter(q.area, q.mode, q.cs)
	if err != nil {
		b.Fatal(err)
	}
	from, to := convert.MinID(q.from.UnixMilli()), convert.MaxID(q.to.UnixMilli()-1)
	n := 0
	for {
		page, err := f.st.Query(context.Background(), store.Query{Collections: []uuid.UUID{f.col}, From: from, To: to, Limit: 8192})
		if err != nil {
			b.Fatal(err)
		}
		for _, dp := range page {
			if wkb := geometryWKB(dp.Data); wkb != nil {
				g, err := geo.ParseWKB(wkb)
				if err != nil {
					b.Fatal(err)
				}
				if filter.Match(g) {
					if n++; q.limit > 0 && n == int(q.limit) {
						return n
					}
				}
			}
		}
		if len(page) < 8192 {
			return n
		}
		from = page[len(page)-1].ID
		from[15]++
	}
}

// geometryWKB is the WKB of field 4 of canonical bytes (nil without).
func geometryWKB(b []byte) []byte {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if num == schema.NumberGeometry {
			msg, _ := protowire.ConsumeBytes(b)
			_, _, k := protowire.ConsumeTag(msg)
			wkb, _ := protowire.ConsumeBytes(msg[k:])
			return wkb
		}
		b = b[m:]
	}
	return nil
}

// BenchmarkSpatialQuery: each query indexed (through the service) and as a
// full scan with the exact test.
func BenchmarkSpatialQuery(b *testing.B) {
	f := load(b)
	scanNS := map[string]float64{}
	for _, q := range queries() {
		b.Run(q.name+"/scan", func(b *testing.B) {
			n := 0
			for b.Loop() {
				n = f.scan(b, q)
			}
			scanNS[q.name] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(float64(n), "matches")
		})
		b.Run(q.name+"/indexed", func(b *testing.B) {
			n := 0
			for b.Loop() {
				n = f.indexed(b, q)
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(float64(n), "matches")
			if s, ok := scanNS[q.name]; ok {
				b.ReportMetric(s/ns, "x_vs_scan")
			}
		})
	}
}

// BenchmarkSpatialIngest is ingest's cost per datapoint with and without
// the spatial index: in the store (the same rows with and without Bounds,
// so the difference is the R*Tree) and through the service (which also
// parses and bounds each geometry), in 8192-datapoint calls.
func BenchmarkSpatialIngest(b *testing.B) {
	const n = 100_000
	values := corpus()[:min(n, rows())]
	noGeom := make([][]byte, len(values))
	for i := range values {
		noGeom[i] = value(i, nil)
	}
	dps := make([]store.Datapoint, len(values))
	for i, v := range values {
		ms := start.Add(time.Duration(i) * granule).UnixMilli()
		id, err := convert.ID(ms, v)
		if err != nil {
			b.Fatal(err)
		}
		dps[i] = store.Datapoint{ID: id, Data: v}
		if wkb := geometryWKB(v); wkb != nil {
			g, err := geo.ParseWKB(wkb)
			if err != nil {
				b.Fatal(err)
			}
			dps[i].Bounds = geo.SphericalBounds(g)
		}
	}
	plain := make([]store.Datapoint, len(dps))
	for i, dp := range dps {
		plain[i] = store.Datapoint{ID: dp.ID, Data: dp.Data}
	}
	run := func(b *testing.B, ingest func(f *fixture)) {
		for b.Loop() {
			b.StopTimer()
			f := newFixture(b, b.TempDir())
			b.StartTimer()
			ingest(f)
			b.StopTimer()
			f.st.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(values)), "ns/datapoint")
	}
	storeIngest := func(dps []store.Datapoint) func(f *fixture) {
		return func(f *fixture) {
			for lo := 0; lo < len(dps); lo += 8192 {
				if _, err := f.st.Ingest(context.Background(), f.col, dps[lo:min(lo+8192, len(dps))], false); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("store/with_bounds", func(b *testing.B) { run(b, storeIngest(dps)) })
	b.Run("store/without_bounds", func(b *testing.B) { run(b, storeIngest(plain)) })
	b.Run("service/with_geometry", func(b *testing.B) { run(b, func(f *fixture) { f.ingest(b, values) }) })
	b.Run("service/without_geometry", func(b *testing.B) { run(b, func(f *fixture) { f.ingest(b, noGeom) }) })

	// Deleting everything again, 8192 IDs a call.
	del := func(dps []store.Datapoint) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				f := newFixture(b, b.TempDir())
				storeIngest(dps)(f)
				b.StartTimer()
				for lo := 0; lo < len(dps); lo += 8192 {
					ids := make([]store.ID, 0, 8192)
					for _, dp := range dps[lo:min(lo+8192, len(dps))] {
						ids = append(ids, dp.ID)
					}
					if _, err := f.st.Delete(context.Background(), f.col, ids); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				f.st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(dps)), "ns/datapoint")
		}
	}
	b.Run("store/delete_with_bounds", del(dps))
	b.Run("store/delete_without_bounds", del(plain))
}
