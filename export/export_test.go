package export_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/google/uuid"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/export"
	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/ingest"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

// Readers take math.MinInt64 times and durations for pandas' NaT (null),
// so no datapoint here has one.

// everyType has a scalar and an array field of every type.
func everyType(t testing.TB) *schema.Dataset { return typesDataset(t, schema.Types()) }

func typesDataset(t testing.TB, types []schema.Type) *schema.Dataset {
	t.Helper()
	var fields []schema.Field
	for _, typ := range types {
		if typ != schema.Geometry {
			fields = append(fields, schema.Field{Name: "f_" + typ.String(), Type: typ})
		}
		fields = append(fields, schema.Field{Name: "a_" + typ.String(), Type: typ, Array: true})
	}
	ds, err := schema.New("test", "every_type", "Every type", schema.SpatioTemporal, fields)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func randomGeometry(rng *rand.Rand) orb.Geometry {
	x, y := rng.Float64()*340-170, rng.Float64()*160-80
	switch rng.IntN(3) {
	case 0:
		return orb.Point{x, y}
	case 1:
		return orb.Polygon{{{x, y}, {x + 1.25, y}, {x + 1.25, y + 0.1 + rng.Float64()}, {x, y}}}
	}
	return orb.MultiPolygon{{{{x, y}, {x + 1, y}, {x + 1, y + 1}, {x, y}}}, {{{x + 3, y}, {x + 4, y}, {x + 4, y + 1}, {x + 3, y}}}}
}

func randomValue(b array.Builder, t schema.Type, rng *rand.Rand) {
	switch t {
	case schema.String:
		b.(*array.StringBuilder).Append([]string{"a", "héllo, \"wörld\"", "two\nlines", " padded ", "[not an array]"}[rng.IntN(5)])
	case schema.Int64:
		b.(*array.Int64Builder).Append([]int64{0, -1, math.MinInt64, math.MaxInt64, rng.Int64()}[rng.IntN(5)])
	case schema.Uint64:
		b.(*array.Uint64Builder).Append([]uint64{0, math.MaxUint64, rng.Uint64()}[rng.IntN(3)])
	case schema.Float64:
		b.(*array.Float64Builder).Append([]float64{0, math.Copysign(0, -1), math.Float64frombits(0x7ff8000000000000), math.Inf(-1), 1e-310, rng.NormFloat64() * 1e6}[rng.IntN(6)]) // NaN as ingest stores it
	case schema.Bool:
		b.(*array.BooleanBuilder).Append(rng.IntN(2) == 0)
	case schema.Bytes:
		b.(*array.BinaryBuilder).Append([][]byte{{}, {0}, {0xff, 0xfe, 1}}[rng.IntN(3)])
	case schema.Geometry:
		wkb, _ := geo.MarshalWKB(randomGeometry(rng))
		b.(*array.BinaryBuilder).Append(wkb)
	case schema.Duration:
		b.(*array.DurationBuilder).Append(arrow.Duration([]int64{0, -1500000000, 1, 1500, math.MinInt64 + 1, max(rng.Int64(), math.MinInt64+1)}[rng.IntN(6)]))
	case schema.Timestamp:
		b.(*array.TimestampBuilder).Append(arrow.Timestamp([]int64{0, -1, 1, rng.Int64()}[rng.IntN(4)]))
	case schema.UUID:
		u := uuid.New()
		b.(*array.FixedSizeBinaryBuilder).Append(u[:])
	default:
		sb := b.(*array.StructBuilder)
		sb.Append(true)
		for i := range sb.NumField() {
			sb.FieldBuilder(i).(*array.Float64Builder).Append([]float64{0, 1.5, -2.25e-3, rng.Float64()}[rng.IntN(4)])
		}
	}
}

// datapoints encodes n random rows of ds.
func datapoints(t testing.TB, ds *schema.Dataset, n int, seed uint64) []store.Datapoint {
	rng := rand.New(rand.NewPCG(seed, 1))
	rb := array.NewRecordBuilder(memory.DefaultAllocator, ds.ArrowSchema())
	defer rb.Release()
	for i, f := range ds.Fields {
		fb := rb.Field(i)
		for range n {
			switch {
			case f.Name == schema.FieldTime:
				fb.(*array.TimestampBuilder).Append(arrow.Timestamp(rng.Int64N(4102444800e9)))
			case f.Name == schema.FieldID || f.Name == schema.FieldIngestionTime || rng.IntN(5) == 0:
				fb.AppendNull()
			case f.Array:
				lb := fb.(*array.ListBuilder)
				lb.Append(true)
				for range rng.IntN(4) {
					randomValue(lb.ValueBuilder(), f.Type, rng)
				}
			default:
				randomValue(fb, f.Type, rng)
			}
		}
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	enc, err := convert.NewEncoder(ds, rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	_, dps, err := enc.Encode(rec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dps
}

// writeFile exports dps (with their IDs) to path in format f.
func writeFile(t testing.TB, ds *schema.Dataset, dps []store.Datapoint, path string, f export.Format, opts ...export.Option) {
	dec, err := convert.NewDecoder(ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Release()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w, err := export.NewWriter(out, f, ds, dec.Schema(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	seq := func(yield func([]byte, error) bool) {
		for _, dp := range dps {
			if !yield(convert.Splice(nil, dp.Data, dp.ID, time1, false), nil) {
				return
			}
		}
	}
	n, err := export.Datapoints(w, dec, seq, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n != int64(len(dps)) || w.Rows() != n {
		t.Fatalf("wrote %d of %d rows", n, len(dps))
	}
}

// readBack ingests path as granary would and returns the datapoints.
func readBack(t testing.TB, ds *schema.Dataset, path string, m ingest.Mapping) []store.Datapoint {
	src, err := ingest.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	mp, err := ingest.NewMapper(src.Schema(), ds, m, path)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := convert.NewEncoder(ds, mp.Schema())
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Datapoint
	for b, err := range src.Batches() {
		if err != nil {
			t.Fatal(err)
		}
		rec, err := mp.Map(b)
		if err != nil {
			t.Fatal(err)
		}
		_, dps, err := enc.Encode(rec, nil, nil)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		for _, dp := range dps {
			out = append(out, store.Datapoint{ID: dp.ID, Data: bytes.Clone(dp.Data)})
		}
	}
	return out
}

// TestRoundTrip: every format granary reads back gives the same datapoints
// with the same IDs, for every field type (Parquet carries durations as
// int64 with the stored Arrow schema naming the type).
func TestRoundTrip(t *testing.T) {
	ds := everyType(t)
	dps := datapoints(t, ds, 500, 1)
	dir := t.TempDir()
	for _, tc := range []struct {
		f    export.Format
		ext  string
		opts []export.Option
	}{
		{export.Parquet, ".parquet", nil},
		{export.GeoParquet, ".parquet", []export.Option{export.WithCompression("snappy")}},
		{export.Feather, ".feather", nil},
		{export.Feather, ".feather", []export.Option{export.WithCompression("zstd")}},
		{export.IPC, ".arrows", nil},
		{export.CSV, ".csv", nil},
	} {
		t.Run(tc.f.String(), func(t *testing.T) {
			path := filepath.Join(dir, "out"+tc.ext)
			writeFile(t, ds, dps, path, tc.f, tc.opts...)
			got := readBack(t, ds, path, ingest.Mapping{})
			if len(got) != len(dps) {
				t.Fatalf("%d rows back, want %d", len(got), len(dps))
			}
			for i := range dps {
				if got[i].ID != dps[i].ID || !bytes.Equal(got[i].Data, dps[i].Data) {
					t.Fatalf("row %d differs:\n%x\n%x", i, dps[i].Data, got[i].Data)
				}
			}
		})
	}
}

func TestGeoParquetMetadata(t *testing.T) {
	ds := typesDataset(t, []schema.Type{schema.String, schema.Float64})
	dps := datapoints(t, ds, 300, 2)
	path := filepath.Join(t.TempDir(), "g.parquet")
	writeFile(t, ds, dps, path, export.GeoParquet, export.WithCoveringBBox())
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	raw := r.MetaData().KeyValueMetadata().FindValue("geo")
	if raw == nil {
		t.Fatal("no geo metadata")
	}
	var md struct {
		Version       string `json:"version"`
		PrimaryColumn string `json:"primary_column"`
		Columns       map[string]struct {
			Encoding      string         `json:"encoding"`
			GeometryTypes []string       `json:"geometry_types"`
			BBox          []float64      `json:"bbox"`
			Covering      map[string]any `json:"covering"`
		} `json:"columns"`
	}
	if err := json.Unmarshal([]byte(*raw), &md); err != nil {
		t.Fatal(err)
	}
	g := md.Columns["geometry"]
	if md.Version != "1.1.0" || md.PrimaryColumn != "geometry" || g.Encoding != "WKB" || len(g.BBox) != 4 || g.Covering == nil {
		t.Fatalf("geo metadata %s", *raw)
	}
	if strings.Join(g.GeometryTypes, ",") != "Point,Polygon,MultiPolygon" {
		t.Fatalf("geometry_types %v", g.GeometryTypes)
	}
	if g.BBox[0] < -170 || g.BBox[2] > 175 || g.BBox[0] > g.BBox[2] {
		t.Fatalf("bbox %v", g.BBox)
	}
	// The covering column is not a field: re-ingesting drops it.
	got := readBack(t, ds, path, ingest.Mapping{Drop: []string{"bbox"}})
	if len(got) != len(dps) || got[7].ID != dps[7].ID {
		t.Fatal("GeoParquet with a covering column does not read back")
	}
}

func TestNDJSON(t *testing.T) {
	ds := everyType(t)
	dps := datapoints(t, ds, 50, 3)
	path := filepath.Join(t.TempDir(), "x.ndjson")
	writeFile(t, ds, dps, path, export.NDJSON)
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		if m["id"] != uuid.UUID(dps[i].ID).String() {
			t.Fatalf("line %d id %v", i, m["id"])
		}
	}
}

func TestFormats(t *testing.T) {
	st := everyType(t)
	tmp, _ := schema.New("x", "t", "T", schema.Temporal, nil)
	for path, want := range map[string]export.Format{"a.parquet": export.GeoParquet, "a.feather": export.Feather, "a.arrows": export.IPC, "a.csv": export.CSV, "a.jsonl": export.NDJSON} {
		if f, ok := export.FormatForPath(path, st); !ok || f != want {
			t.Errorf("%s: %v", path, f)
		}
	}
	if f, _ := export.FormatForPath("a.parquet", tmp); f != export.Parquet {
		t.Errorf("temporal .parquet: %v", f)
	}
	if _, err := export.ParseFormat("xlsx"); err == nil {
		t.Error("xlsx accepted")
	}
}

var time1 = mustTime("2024-05-06T07:08:09.123456789Z")

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}
