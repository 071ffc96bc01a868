package ingest

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

var at2024 = map[string]string{"time": "2024-01-01T00:00:00Z"}

// geoInfo opens path and returns its geometry description.
func geoInfo(t *testing.T, path string) *GeoMetadata {
	t.Helper()
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	gs, ok := src.(GeoSource)
	if !ok {
		t.Fatalf("%T is no GeoSource", src)
	}
	return gs.GeoInfo()
}

// TestCorpusGeoCRS checks what each geometry file's CRS means for
// ingesting it: longitude/latitude maps, any other CRS is an error naming it.
func TestCorpusGeoCRS(t *testing.T) {
	dir := corpusDir(t)
	cases := []struct {
		file     string
		encoding string
		crs      string // CRSName; "" to skip
		reject   string // the mapping error mentions this; "" if the CRS is lon/lat
	}{
		{"geoparquet/data-point-encoding_wkb.parquet", "WKB", "OGC:CRS84", ""},
		{"geoparquet/example-crs_vermont-4326_geo.parquet", "WKB", "EPSG:4326", ""},
		{"geoparquet/example-crs_vermont-crs84_geo.parquet", "WKB", "OGC:CRS84", ""},
		{"geoparquet/example-crs_vermont-custom_geo.parquet", "WKB", "", "projected CRS"},
		{"geoparquet/example-crs_vermont-utm_geo.parquet", "WKB", "", "UTM zone 18N"},
		{"geoparquet/gpq_example-v0.4.0.parquet", "WKB", "OGC:CRS84", ""},
		{"geoparquet/gpq_example-v1.0.0.parquet", "WKB", "OGC:CRS84", ""},
		{"geoparquet/gpq_example-v1.1.0-covering.parquet", "WKB", "OGC:CRS84", ""},
		{"geoparquet/hyparquet_geoparquet-1.2.0-dev-covering.parquet", "WKB", "OGC:CRS84", ""},
		{"geoparquet/geoparquet_example.parquet", "WKB", "OGC:CRS84", ""},
		{"geoparquet/natural-earth_cities_native.parquet", "point", "EPSG:4326", ""},
		{"geoparquet/example_polygon_native.parquet", "polygon", "unknown", ""},
		{"geoparquet/example_multipolygon_native.parquet", "multipolygon", "unknown", ""},
		{"geoparquet/natural-earth_countries-geography_geo.parquet", "WKB", "OGC:CRS84", ""},
		{"geoparquet/parquet-native/crs-default.parquet", "WKB", "OGC:CRS84", ""},
		{"geoparquet/parquet-native/crs-geography.parquet", "WKB", "OGC:CRS84", ""},
		{"geoparquet/parquet-native/geography-polygons.parquet", "WKB", "OGC:CRS84", ""},
		{"geoparquet/parquet-native/crs-srid.parquet", "WKB", "", "srid:5070"},
		{"geoparquet/parquet-native/crs-projjson.parquet", "WKB", "", "NAD83 / Conus Albers"},
		{"geoparquet/parquet-native/crs-arbitrary-value.parquet", "WKB", "", "NAD83 / Conus Albers"},
		{"arrow-stream/geoarrow/example-crs_vermont-crs84-wkt2_wkb.arrows", "WKB", "OGC:CRS84", ""},
		{"arrow-stream/geoarrow/example-crs_vermont-utm_wkb.arrows", "WKB", "", "UTM zone 18N"},
		{"arrow-stream/geoarrow/natural-earth_cities.arrows", "point", "EPSG:4326", ""},
		{"arrow-stream/geoarrow/example_multipolygon_interleaved.arrows", "multipolygon", "unknown", ""},
		{"arrow-stream/geoarrow/example_polygon_wkt.arrows", "WKT", "unknown", ""},
		{"feather/duckdb-spatial_geoarrow-wkb.arrow", "WKB", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			g := geoInfo(t, path)
			p := g.Primary()
			if p == nil {
				t.Fatalf("no primary geometry column in %+v", g)
			}
			if p.Encoding != tc.encoding {
				t.Errorf("encoding %q, want %q", p.Encoding, tc.encoding)
			}
			if tc.crs != "" && p.CRSName != tc.crs {
				t.Errorf("CRS %q, want %q", p.CRSName, tc.crs)
			}
			if p.LonLat != (tc.reject == "") {
				t.Errorf("LonLat %v (%s)", p.LonLat, p.CRSErr)
			}
			// Map only the geometry (and a constant time).
			ds := dataset(t, schema.SpatioTemporal)
			src, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var drop []string
			for _, f := range src.Schema().Fields() {
				if f.Name != p.Name {
					drop = append(drop, f.Name)
				}
			}
			m := Mapping{Set: at2024, Drop: drop}
			mp, err := NewMapper(src.Schema(), ds, m, filepath.Base(path))
			if tc.reject != "" {
				wantErr(t, err, filepath.Base(path), p.Name, tc.reject, "longitude/latitude")
				t.Logf("rejected: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for b, err := range src.Batches() {
				if err != nil {
					t.Fatal(err)
				}
				rec, err := mp.Map(b)
				if err != nil {
					if strings.Contains(err.Error(), "2-D only") {
						t.Logf("skipped: %v", err) // package geo stores no Z/M
						return
					}
					t.Fatal(err)
				}
				rec.Release()
			}
		})
	}
}

// geometryOf maps the column col of path onto a geometry field (as the
// dataset's primary geometry) and returns the canonical WKB column.
func geometryOf(t *testing.T, path, col string) arrow.Array {
	t.Helper()
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var drop []string
	for _, f := range src.Schema().Fields() {
		if f.Name != col {
			drop = append(drop, f.Name)
		}
	}
	src.Close()
	m := Mapping{Set: at2024, Drop: drop}
	if col != "geometry" {
		m.Rename = map[string]string{col: "geometry"}
	}
	return mappedColumn(t, path, dataset(t, schema.SpatioTemporal), m, "geometry")
}

// TestGeoArrowNative checks that native GeoArrow encodings (GeoParquet 1.1,
// Arrow IPC geoarrow.*) map to the same WKB as the WKT or WKB twins the
// files carry.
func TestGeoArrowNative(t *testing.T) {
	dir := corpusDir(t)
	gp := filepath.Join(dir, "geoparquet")
	gs := filepath.Join(dir, "arrow-stream", "geoarrow")
	pairs := []struct {
		name             string
		pathA, colA      string
		pathB, colB      string
		skipEmptyPolygon bool
	}{
		{"polygon native vs its wkt column", filepath.Join(gp, "example_polygon_native.parquet"), "geometry", filepath.Join(gp, "example_polygon_native.parquet"), "wkt", false},
		{"multipolygon native vs its wkt column", filepath.Join(gp, "example_multipolygon_native.parquet"), "geometry", filepath.Join(gp, "example_multipolygon_native.parquet"), "wkt", false},
		{"multipolygon interleaved vs its wkt column", filepath.Join(gs, "example_multipolygon_interleaved.arrows"), "geometry", filepath.Join(gs, "example_multipolygon_interleaved.arrows"), "wkt", false},
		{"geoarrow.wkt vs its wkt column", filepath.Join(gs, "example_polygon_wkt.arrows"), "geometry", filepath.Join(gs, "example_polygon_wkt.arrows"), "wkt", false},
		{"cities: native point parquet vs WKB parquet", filepath.Join(gp, "natural-earth_cities_native.parquet"), "geometry", filepath.Join(gp, "natural-earth_cities_geo.parquet"), "geometry", false},
		{"cities: geoarrow.point stream vs WKB parquet", filepath.Join(gs, "natural-earth_cities.arrows"), "geometry", filepath.Join(gp, "natural-earth_cities_geo.parquet"), "geometry", false},
		{"countries: geoarrow.wkb stream vs WKB parquet", filepath.Join(gs, "natural-earth_countries_wkb.arrows"), "geometry", filepath.Join(gp, "natural-earth_countries_geo.parquet"), "geometry", false},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			a := geometryOf(t, p.pathA, p.colA)
			b := geometryOf(t, p.pathB, p.colB)
			defer a.Release()
			defer b.Release()
			if a.Len() != b.Len() || a.Len() == 0 {
				t.Fatalf("%d vs %d rows", a.Len(), b.Len())
			}
			if !array.Equal(a, b) {
				for i := 0; i < a.Len(); i++ {
					if a.IsNull(i) != b.IsNull(i) || (a.IsValid(i) && string(a.(*array.Binary).Value(i)) != string(b.(*array.Binary).Value(i))) {
						t.Fatalf("row %d differs: %s vs %s", i+1, a.ValueStr(i), b.ValueStr(i))
					}
				}
			}
		})
	}
	t.Run("geoarrow.box", func(t *testing.T) {
		a := geometryOf(t, filepath.Join(gs, "natural-earth_countries-bounds_box.arrows"), "geometry")
		defer a.Release()
		if a.Len() != 177 || a.NullN() != 0 {
			t.Fatalf("%d rows, %d nulls", a.Len(), a.NullN())
		}
		multi := 0
		for i := 0; i < a.Len(); i++ {
			g, err := geo.ParseWKB(a.(*array.Binary).Value(i))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := g.(orb.MultiPolygon); ok {
				multi++ // a box across the antimeridian is cut in two
			}
		}
		if multi != 2 {
			t.Errorf("%d boxes cross the antimeridian, the MANIFEST says 2", multi)
		}
	})
}

// TestGeoMetadataVersions reads the "geo" metadata of every GeoParquet
// version in the corpus.
func TestGeoMetadataVersions(t *testing.T) {
	dir := corpusDir(t)
	for file, version := range map[string]string{
		"gpq_example-v0.4.0.parquet":                      "0.4.0",
		"gpq_example-v1.0.0-beta.1.parquet":               "1.0.0-beta.1",
		"gpq_example-v1.0.0.parquet":                      "1.0.0",
		"gpq_example-v1.1.0.parquet":                      "1.1.0",
		"hyparquet_geoparquet-1.2.0-dev-covering.parquet": "1.2.0-dev",
		"geoparquet_example.parquet":                      "2.0-dev",
	} {
		g := geoInfo(t, filepath.Join(dir, "geoparquet", file))
		if g.Version != version || g.PrimaryColumn != "geometry" {
			t.Errorf("%s: version %q primary %q", file, g.Version, g.PrimaryColumn)
		}
		p := g.Primary()
		if p == nil || len(p.GeometryTypes) != 2 {
			t.Errorf("%s: geometry types %v", file, p)
		}
		if len(g.Problems) > 0 {
			t.Errorf("%s: %v", file, g.Problems)
		}
	}
	// The example metadata matches the JSON the MANIFEST gives.
	raw, err := os.ReadFile(filepath.Join(dir, "geoparquet", "geoparquet_example_metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	var wrapped struct {
		Geo json.RawMessage `json:"geo"`
	}
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		t.Fatal(err)
	}
	want := parseGeoJSON(wrapped.Geo, nil)
	got := geoInfo(t, filepath.Join(dir, "geoparquet", "geoparquet_example.parquet"))
	if got.Version != want.Version || got.Primary().CRSName != want.Primary().CRSName || len(got.Primary().BBox) != len(want.Primary().BBox) {
		t.Errorf("got %+v, want %+v", got.Primary(), want.Primary())
	}
}

// geoJSONToWKB converts a GeoJSON geometry (null: nil) into WKB; an empty
// point becomes POINT EMPTY (NaN coordinates).
func geoJSONToWKB(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	g, err := geo.ParseGeoJSON(raw)
	if err != nil {
		var head struct {
			Type        string `json:"type"`
			Coordinates []any  `json:"coordinates"`
		}
		if json.Unmarshal(raw, &head) != nil || head.Type != "Point" || len(head.Coordinates) != 0 {
			t.Fatalf("GeoJSON %s: %v", raw, err)
		}
		g = orb.Point{math.NaN(), math.NaN()}
	}
	b, err := geo.MarshalWKB(g)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeGeoParquet writes a GeoParquet file with one WKB geometry column and
// the given "geo" metadata value.
func writeGeoParquet(t *testing.T, path string, geoValue string, wkbs [][]byte) {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{{Name: "geometry", Type: arrow.BinaryTypes.Binary, Nullable: true}}, nil)
	mem := memory.NewGoAllocator()
	b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	for _, w := range wkbs {
		if w == nil {
			b.AppendNull()
		} else {
			b.Append(w)
		}
	}
	col := b.NewArray()
	rec := array.NewRecordBatch(sc, []arrow.Array{col}, int64(len(wkbs)))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.AppendKeyValueMetadata(geoKey, geoValue); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestGeoParquetMetadataCases builds each gpq validator case (geo metadata
// and GeoJSON features from input.json) as a GeoParquet file, validates it
// and compares the verdicts with expected.json.
func TestGeoParquetMetadataCases(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "geoparquet", "metadata-cases")
	cases, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 25 {
		t.Fatalf("%d metadata cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			var input struct {
				Metadata json.RawMessage `json:"metadata"`
				Data     struct {
					Features []struct {
						Geometry json.RawMessage `json:"geometry"`
					} `json:"features"`
				} `json:"data"`
			}
			var expected struct {
				Checks []struct {
					Title  string `json:"title"`
					Run    bool   `json:"run"`
					Passed bool   `json:"passed"`
				} `json:"checks"`
				MetadataOnly bool `json:"metadataOnly"`
			}
			for name, v := range map[string]any{"input.json": &input, "expected.json": &expected} {
				b, err := os.ReadFile(filepath.Join(dir, c.Name(), name))
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(b, v); err != nil {
					t.Fatal(err)
				}
			}
			var wkbs [][]byte
			for _, f := range input.Data.Features {
				wkbs = append(wkbs, geoJSONToWKB(t, f.Geometry))
			}
			p := filepath.Join(t.TempDir(), c.Name()+".parquet")
			writeGeoParquet(t, p, string(input.Metadata), wkbs)
			rep, err := ValidateGeoParquet(p)
			if err != nil {
				t.Fatal(err)
			}
			byTitle := map[string]GeoCheck{}
			for _, ch := range rep.Checks {
				byTitle[ch.Title] = ch
			}
			shouldPass := true
			for _, want := range expected.Checks {
				got, ok := byTitle[want.Title]
				if !ok {
					t.Errorf("no check %q", want.Title)
					continue
				}
				if got.Run != want.Run || got.Passed != want.Passed {
					t.Errorf("%q: run %v passed %v (%s), want run %v passed %v", want.Title, got.Run, got.Passed, got.Message, want.Run, want.Passed)
				}
				shouldPass = shouldPass && (!want.Run || want.Passed)
			}
			if rep.OK() != shouldPass {
				t.Errorf("OK() = %v: %v", rep.OK(), rep.Err())
			}
			if !shouldPass {
				wantErr(t, rep.Err(), c.Name()+".parquet", "invalid GeoParquet")
			}
		})
	}
}

// TestValidateCorpusGeoParquet: the files in geoparquet/invalid/ are
// rejected, the valid GeoParquet 1.x files pass.
func TestValidateCorpusGeoParquet(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "geoparquet")
	for file, want := range map[string]string{
		"invalid/duckdb-spatial_segments_projected_no_crs.parquet":        "not lon/lat",
		"invalid/parquet-wasm_naturalearth_cities_geoarrow-0.4.0.parquet": `unsupported encoding "geoarrow"`,
	} {
		rep, err := ValidateGeoParquet(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, rep.Err(), filepath.Base(file), want)
	}
	// The valid files pass, but for real departures from GeoParquet 1.x.
	flagged := map[string]string{
		"gpq_example-v0.4.0.parquet":                      `missing "geometry_types"`, // 0.4.0 said geometry_type
		"example_geometry-zm_geo.parquet":                 `unsupported geometry type "Point ZM"`,
		"example_geometry-mixed-dimensions_geo.parquet":   `unsupported geometry type "Point M"`,
		"hyparquet_geoparquet-1.2.0-dev-covering.parquet": "north of the bbox", // bbox rounded inwards (83.2332)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
	passed := 0
	for _, f := range files {
		rep, err := ValidateGeoParquet(f)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(f)
		if want, ok := flagged[base]; ok {
			wantErr(t, rep.Err(), base, want)
			continue
		}
		if !rep.OK() {
			t.Errorf("%v", rep.Err())
		}
		passed++
	}
	if passed < 20 {
		t.Errorf("only %d files validated", passed)
	}
}

// TestCoveringColumns: a GeoParquet 1.1 covering (per-row bounding boxes,
// derived from the geometry) is known to the source and ignored by
// mapping without --drop (cmd/granary tests inference and granary's own
// exports).
func TestCoveringColumns(t *testing.T) {
	path := filepath.Join(corpusDir(t), "geoparquet", "gpq_example-v1.1.0-covering.parquet")
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	cov := src.(GeoSource).GeoInfo().Primary().Covering
	src.Close()
	if len(cov) != 1 {
		t.Fatalf("covering columns %v, want one", cov)
	}
	ds := dataset(t, schema.SpatioTemporal, field("name", schema.String), field("continent", schema.String),
		field("pop_est", schema.Float64), field("iso_a3", schema.String), field("gdp_md_est", schema.Float64))
	st, err := mapFile(t, path, ds, Mapping{Set: at2024}, nil)
	if err != nil || st.Rows != 5 {
		t.Fatalf("mapped %d rows: %v", st.Rows, err)
	}
}
