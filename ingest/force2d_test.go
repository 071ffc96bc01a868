package ingest

import (
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

// flattenedColumn maps the geometry column of path with WithForce2D and
// returns the canonical WKB values (nil for nulls) and the stats.
func flattenedColumn(t *testing.T, path string, m Mapping) ([][]byte, Stats) {
	t.Helper()
	var out [][]byte
	st, err := mapFile(t, path, dataset(t, schema.SpatioTemporal), m, func(rec arrow.RecordBatch) {
		col := rec.Column(rec.Schema().FieldIndices("geometry")[0]).(*array.Binary)
		for i := range col.Len() {
			if col.IsNull(i) {
				out = append(out, nil)
			} else {
				out = append(out, append([]byte(nil), col.Value(i)...))
			}
		}
	}, WithBatchSize(3), WithForce2D())
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

// onlyGeometry maps a file's geometry column alone, at a fixed time.
func onlyGeometry(t *testing.T, path string) Mapping {
	t.Helper()
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	m := Mapping{Set: at2024}
	for _, f := range src.Schema().Fields() {
		if f.Name != "geometry" {
			m.Drop = append(m.Drop, f.Name)
		}
	}
	return m
}

// TestForce2DCorpus: Z/M geometries are refused unless asked, then the
// same geometries read from WKB (GeoParquet) and from WKT (TSV) come out
// as identical 2-D WKB.
func TestForce2DCorpus(t *testing.T) {
	dir := corpusDir(t)
	parquetZM := filepath.Join(dir, "geoparquet", "example_geometry-zm_geo.parquet")
	tsvZM := filepath.Join(dir, "csv", "geoarrow_example_geometry-zm.tsv")
	mixed := filepath.Join(dir, "geoparquet", "example_geometry-mixed-dimensions_geo.parquet")
	ds := dataset(t, schema.SpatioTemporal)

	for _, path := range []string{parquetZM, tsvZM, mixed} {
		_, err := mapFile(t, path, ds, onlyGeometry(t, path), nil)
		if !errors.Is(err, geo.ErrNot2D) {
			t.Errorf("%s without WithForce2D: %v, want ErrNot2D", filepath.Base(path), err)
		}
		if e := asError(t, err); e.Column != "geometry" || e.Row == 0 {
			t.Errorf("%s: the error names column %q row %d", filepath.Base(path), e.Column, e.Row)
		}
	}

	fromWKB, st := flattenedColumn(t, parquetZM, onlyGeometry(t, parquetZM))
	fromWKT, stText := flattenedColumn(t, tsvZM, onlyGeometry(t, tsvZM))
	var wkb, wkt [][]byte
	for _, v := range fromWKB {
		if v != nil {
			wkb = append(wkb, v)
		}
	}
	for _, v := range fromWKT {
		if v != nil {
			wkt = append(wkt, v)
		}
	}
	if len(wkb) != len(wkt) || len(wkb) < 7 {
		t.Fatalf("%d geometries from WKB, %d from WKT", len(wkb), len(wkt))
	}
	for i := range wkb {
		if string(wkb[i]) != string(wkt[i]) {
			a, _ := geo.ParseWKB(wkb[i])
			b, _ := geo.ParseWKB(wkt[i])
			t.Errorf("geometry %d: from WKB %s, from WKT %s", i, geo.WKT(a), geo.WKT(b))
		}
	}
	if st.GeometriesFlattened != int64(len(wkb)) || stText.GeometriesFlattened != int64(len(wkt)) {
		t.Errorf("flattened %d (parquet) and %d (tsv), want %d", st.GeometriesFlattened, stText.GeometriesFlattened, len(wkb))
	}

	// Mixed dimensions: only the rows with Z or M count, judged from the
	// type codes of the file's own WKB.
	src, err := Open(mixed)
	if err != nil {
		t.Fatal(err)
	}
	wantFlat := 0
	for b, err := range src.Batches() {
		if err != nil {
			t.Fatal(err)
		}
		col := b.Record.Column(b.Record.Schema().FieldIndices("geometry")[0]).(*array.Binary)
		for i := range col.Len() {
			if v := col.Value(i); !col.IsNull(i) && len(v) >= 5 && binary.LittleEndian.Uint32(v[1:])%10000 >= 1000 {
				wantFlat++
			}
		}
	}
	src.Close()
	got, st := flattenedColumn(t, mixed, onlyGeometry(t, mixed))
	if len(got) != 36 || st.GeometriesFlattened != int64(wantFlat) || wantFlat == 0 {
		t.Errorf("mixed dimensions: %d rows, %d flattened, want 36 and %d", len(got), st.GeometriesFlattened, wantFlat)
	}
	for i, v := range got {
		if v == nil {
			continue
		}
		if _, err := geo.ParseWKB(v); err != nil {
			t.Errorf("row %d: %v", i+1, err)
		}
	}
}

// TestForce2DNative: native GeoArrow coordinates with z (separated and
// interleaved) are read as x/y when asked, refused otherwise.
func TestForce2DNative(t *testing.T) {
	mem := memory.NewGoAllocator()
	ring := [][3]float64{{10, 50, 1}, {12, 50, 2}, {12, 52, 3}, {10, 52, 4}, {10, 50, 1}}
	want, _ := geo.MarshalWKB(orb.Polygon{{{10, 50}, {12, 50}, {12, 52}, {10, 52}, {10, 50}}})
	xyz := arrow.StructOf(
		arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		arrow.Field{Name: "y", Type: arrow.PrimitiveTypes.Float64},
		arrow.Field{Name: "z", Type: arrow.PrimitiveTypes.Float64})
	for _, coords := range []arrow.DataType{xyz, arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float64)} {
		t.Run(coords.String(), func(t *testing.T) {
			dt := arrow.ListOf(arrow.ListOf(coords))
			b := array.NewListBuilder(mem, arrow.ListOf(coords))
			defer b.Release()
			b.Append(true)
			rb := b.ValueBuilder().(*array.ListBuilder)
			rb.Append(true)
			for _, p := range ring {
				switch cb := rb.ValueBuilder().(type) {
				case *array.StructBuilder:
					cb.Append(true)
					for k := range 3 {
						cb.FieldBuilder(k).(*array.Float64Builder).Append(p[k])
					}
				case *array.FixedSizeListBuilder:
					cb.Append(true)
					cb.ValueBuilder().(*array.Float64Builder).AppendValues(p[:], nil)
				}
			}
			geom := b.NewArray()
			defer geom.Release()
			md := arrow.NewMetadata([]string{"ARROW:extension:name", "ARROW:extension:metadata"}, []string{"geoarrow.polygon", "{}"})
			tb := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"})
			tb.Append(1704067200)
			times := tb.NewArray()
			tb.Release()
			defer times.Release()
			sc := arrow.NewSchema([]arrow.Field{{Name: "time", Type: times.DataType()}, {Name: "geometry", Type: dt, Nullable: true, Metadata: md}}, nil)
			rec := array.NewRecordBatch(sc, []arrow.Array{times, geom}, 1)
			defer rec.Release()
			ds := dataset(t, schema.SpatioTemporal)

			_, err := NewMapper(sc, ds, Mapping{}, "native")
			wantErr(t, err, "geometry", "2-D only", "--force-2d")

			out, st := mapRecord(t, rec, ds, Mapping{}, WithForce2D())
			defer out.Release()
			got := out.Column(out.Schema().FieldIndices("geometry")[0]).(*array.Binary).Value(0)
			if string(got) != string(want) {
				g, _ := geo.ParseWKB(got)
				t.Fatalf("got %s", geo.WKT(g))
			}
			if st.GeometriesFlattened != 1 {
				t.Fatalf("flattened %d, want 1", st.GeometriesFlattened)
			}
		})
	}
}

// TestForce2DSet: a --set geometry with Z is flattened too when asked.
func TestForce2DSet(t *testing.T) {
	path := writeFile(t, "times.csv", "time\n2024-01-01T00:00:00Z\n")
	ds := dataset(t, schema.SpatioTemporal)
	m := Mapping{Set: map[string]string{"geometry": "POINT Z (13.4 52.5 34)"}}
	if _, err := mapFile(t, path, ds, m, nil); err == nil {
		t.Fatal("a Z point in --set was accepted without WithForce2D")
	}
	var got []byte
	if _, err := mapFile(t, path, ds, m, func(rec arrow.RecordBatch) {
		got = append(got, rec.Column(rec.Schema().FieldIndices("geometry")[0]).(*array.Binary).Value(0)...)
	}, WithForce2D()); err != nil {
		t.Fatal(err)
	}
	want, _ := geo.MarshalWKB(orb.Point{13.4, 52.5})
	if string(got) != string(want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}

// TestEmptyPointSpellings: every spelling of the empty point gives the same
// canonical bytes (so the same ID), and renders back as POINT EMPTY.
func TestEmptyPointSpellings(t *testing.T) {
	want, _ := geo.MarshalWKB(orb.Point{wkbNaN, wkbNaN})
	payloadNaN := math.Float64frombits(0x7ff8000000000001) // math.NaN()'s bits
	other, _ := geo.MarshalWKB(orb.Point{payloadNaN, payloadNaN})
	be := []byte{0, 0, 0, 0, 1, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0}
	for _, in := range [][]byte{[]byte("POINT EMPTY"), []byte("point empty"), []byte("POINT(NaN NaN)"), other, be, want} {
		got, err := geometryWKB(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if string(got) != string(want) {
			t.Errorf("%q: got %x, want %x", in, got, want)
		}
	}
	if s := geo.WKT(orb.Point{payloadNaN, payloadNaN}); s != "POINT EMPTY" {
		t.Errorf("WKT of the empty point: %s", s)
	}
}

// TestForce2DColumnKinds: text, view and dictionary-encoded geometry
// columns are flattened alike, and counted per row.
func TestForce2DColumnKinds(t *testing.T) {
	mem := memory.NewGoAllocator()
	vals := []string{"POINT Z (1 2 3)", "POINT (5 6)", "POINT Z (1 2 3)"}
	plain := array.NewStringBuilder(mem)
	plain.AppendValues(vals, nil)
	view := array.NewStringViewBuilder(mem)
	view.AppendValues(vals, nil)
	dict := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
	for _, v := range vals {
		if err := dict.AppendString(v); err != nil {
			t.Fatal(err)
		}
	}
	want1, _ := geo.MarshalWKB(orb.Point{1, 2})
	want2, _ := geo.MarshalWKB(orb.Point{5, 6})
	for _, col := range []arrow.Array{plain.NewArray(), view.NewArray(), dict.NewArray()} {
		tb := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Second})
		tb.AppendValues([]arrow.Timestamp{1, 2, 3}, nil)
		times := tb.NewArray()
		sc := arrow.NewSchema([]arrow.Field{{Name: "time", Type: times.DataType()}, {Name: "geometry", Type: col.DataType()}}, nil)
		rec := array.NewRecordBatch(sc, []arrow.Array{times, col}, 3)
		out, st := mapRecord(t, rec, dataset(t, schema.SpatioTemporal), Mapping{}, WithForce2D())
		g := out.Column(1).(*array.Binary)
		if st.GeometriesFlattened != 2 || string(g.Value(0)) != string(want1) || string(g.Value(1)) != string(want2) || string(g.Value(2)) != string(want1) {
			t.Errorf("%s: flattened %d, values %x", col.DataType(), st.GeometriesFlattened, [][]byte{g.Value(0), g.Value(1), g.Value(2)})
		}
		out.Release()
		rec.Release()
		times.Release()
		col.Release()
	}
}
