package ingest

import (
	"errors"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/granaryhq/granary/schema"
)

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"time":             "time",
		"Sepal.Length":     "sepal_length",
		"startTime":        "start_time",
		"HTTPServer":       "http_server",
		"  Padded Name ":   "padded_name",
		"2m temperature":   "f_2m_temperature",
		"pop_est":          "pop_est",
		"c_customer_sk:":   "c_customer_sk",
		"ÄÖÜ":              "column_4",
		"already__double_": "already_double",
		"GDP (USD)":        "gdp_usd",
	} {
		if got := snakeCase(in, 3); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
		if got := snakeCase(in, 3); !schema.ValidCodeName(got) {
			t.Errorf("snakeCase(%q) = %q is not a valid field name", in, got)
		}
	}
}

func inferFile(t *testing.T, path, code string) (*schema.Dataset, Mapping, error) {
	t.Helper()
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return InferSchemaMapping(src, code)
}

func fieldTypes(ds *schema.Dataset) map[string]string {
	out := map[string]string{}
	for _, f := range ds.Fields {
		out[f.Name] = f.TypeString()
	}
	return out
}

func TestInferSchemaCSV(t *testing.T) {
	p := writeFile(t, "obs.csv", strings.Join([]string{
		"Start Time,Station ID,count,big,ratio,ok,uuid,footprint,history,tags,note,dur,id",
		`2024-01-01T00:00:00Z,A-1,3,18446744073709551615,1.5,true,123e4567-e89b-12d3-a456-426614174000,"POLYGON ((0 0, 1 0, 1 1, 0 0))","[1.5, 2]","[""a""]",x,PT1H,7`,
		`2024-01-01T01:00:00Z,B-2,-4,1,NaN,FALSE,123e4567-e89b-12d3-a456-426614174001,"POINT (1 2)",[],[],,1h30m,8`,
		`2024-01-01T02:00:00Z,C-3,,2,2e10,,,,,,y,,9`,
	}, "\n")+"\n")
	ds, m, err := inferFile(t, p, "observations")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"time": "timestamp", "id": "uuid", "ingestion_time": "timestamp", "geometry": "geometry",
		"station_id": "string", "count": "int64", "big": "uint64", "ratio": "float64", "ok": "bool",
		"uuid": "uuid", "history": "float64[]", "tags": "string[]", "note": "string", "dur": "duration",
	}
	got := fieldTypes(ds)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %s: %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	if ds.Kind != schema.SpatioTemporal || ds.CodeName != "observations" {
		t.Errorf("kind %v code %q", ds.Kind, ds.CodeName)
	}
	if m.Rename["Start Time"] != "time" || m.Rename["footprint"] != "geometry" || m.Rename["Station ID"] != "station_id" {
		t.Errorf("renames %v", m.Rename)
	}
	// The proposal ingests the file.
	st, err := mapFile(t, p, ds, m, nil)
	if err != nil || st.Rows != 3 {
		t.Fatalf("mapping the proposal: %d rows, %v", st.Rows, err)
	}
	// And it survives the schema file round trip.
	b, err := schema.Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := schema.Parse("obs.yaml", b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
}

func TestInferSchemaTimeColumn(t *testing.T) {
	p := writeFile(t, "two.csv", "created,updated,v\n2024-01-01,2024-01-02,1\n")
	_, _, err := inferFile(t, p, "two")
	wantErr(t, err, "two.csv", "which column is the time", `"created"`, `"updated"`)
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%T", err)
	}

	p = writeFile(t, "none.csv", "a,b\nx,1\n")
	_, _, err = inferFile(t, p, "none")
	wantErr(t, err, "none.csv", "no timestamp column", "a (string)", "b (int64)")

	p = writeFile(t, "one.csv", "when,v\n2024-01-01T00:00:00Z,1\n")
	ds, m, err := inferFile(t, p, "one")
	if err != nil {
		t.Fatal(err)
	}
	if m.Rename["when"] != "time" || ds.Kind != schema.Temporal {
		t.Errorf("%v %v", m, ds.Kind)
	}
	// A preferred name wins over other timestamp columns.
	p = writeFile(t, "pref.csv", "published,start_time,v\n2024-01-01,2024-01-02,1\n")
	ds, m, err = inferFile(t, p, "pref")
	if err != nil {
		t.Fatal(err)
	}
	if m.Rename["start_time"] != "time" || fieldTypes(ds)["published"] != "timestamp" {
		t.Errorf("%v %v", m, fieldTypes(ds))
	}
	if _, _, err := inferFile(t, p, "Bad-Name"); err == nil {
		t.Error("a bad code name was accepted")
	}
}

// TestInferCorpus proposes a schema for every readable file of the corpus
// and ingests the file with it: inference and mapping never panic, and
// every failure is an *Error naming the file.
func TestInferCorpus(t *testing.T) {
	dir := corpusDir(t)
	var inferred, ingested, refused int
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.Contains(rel, "invalid") || strings.Contains(rel, "unsupported") || strings.Contains(rel, "limits") ||
			strings.HasPrefix(rel, "LICENSES") || strings.HasSuffix(rel, ".md") || strings.HasSuffix(rel, ".json") ||
			strings.HasSuffix(rel, ".yaml") || strings.HasSuffix(rel, "SHA256SUMS") || strings.HasSuffix(rel, "_expect.csv") {
			return nil
		}
		t.Run(rel, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			src, err := Open(p)
			if err != nil {
				return // reading is TestCorpusColumnar's and TestCorpusCSV's job
			}
			// Most corpus files have no time column: add one, so that every
			// other column is typed and mapped.
			ds, m, err := InferSchemaMapping(withTime(src), "corpus")
			src.Close()
			if err != nil {
				refused++
				if !strings.Contains(err.Error(), d.Name()) {
					t.Errorf("error does not name the file: %v", err)
				}
				t.Logf("no schema: %v", err)
				return
			}
			inferred++
			src, err = Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			timed := withTime(src)
			mp, err := NewMapper(timed.Schema(), ds, m, d.Name())
			if err != nil {
				t.Fatalf("the proposal does not map: %v", err)
			}
			for b, err := range timed.Batches() {
				if err == nil {
					var rec interface{ Release() }
					rec, err = mp.Map(b)
					if err == nil {
						rec.Release()
						continue
					}
				}
				var e *Error
				if !errors.As(err, &e) || !strings.Contains(err.Error(), d.Name()) {
					t.Errorf("want an *Error naming the file, got %v", err)
				}
				t.Logf("does not ingest: %v", err)
				return
			}
			ingested++
		})
		return nil
	})
	t.Logf("%d schemas proposed (%d ingest), %d files have no schema", inferred, ingested, refused)
}

// TestCorpusMappingRejects: columns whose Arrow type has no field type are
// rejected by name (MANIFEST: "mapping must reject that column by name").
func TestCorpusMappingRejects(t *testing.T) {
	dir := corpusDir(t)
	for _, tc := range []struct{ file, column string }{
		{"feather/cpp-21.0.0/generated_interval.arrow_file", "f0"},
		{"feather/cpp-21.0.0/generated_map.arrow_file", "map_nullable"},
		{"feather/cpp-21.0.0/generated_null.arrow_file", "f0"},
		{"feather/cpp-21.0.0/generated_union.arrow_file", "sparse_1"},
		{"feather/cpp-21.0.0/generated_run_end_encoded.arrow_file", "ree16"},
		{"parquet/parquet-go_null_columns.parquet", ""},
		{"parquet/unsupported/shredded_variant_case-001.parquet", "var"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			src, err := Open(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			col := tc.column
			if col == "" || len(src.Schema().FieldIndices(col)) == 0 {
				// Pick the column the MANIFEST means: the first one whose
				// type has no field type.
				col = ""
				for _, f := range src.Schema().Fields() {
					if ty, _, _ := inferColumnType(f, nil); ty == schema.TypeUnspecified {
						col = f.Name
						break
					}
				}
				if col == "" {
					t.Fatalf("no unmappable column in %s", src.Schema())
				}
			}
			for _, typ := range []schema.Type{schema.String, schema.Int64, schema.Bytes} {
				ds := dataset(t, schema.Temporal, field(snakeCase(col, 0), typ))
				m := Mapping{Set: at2024, Rename: map[string]string{col: snakeCase(col, 0)}}
				for _, f := range src.Schema().Fields() {
					if f.Name != col {
						m.Drop = append(m.Drop, f.Name)
					}
				}
				_, err := NewMapper(src.Schema(), ds, m, filepath.Base(tc.file))
				wantErr(t, err, filepath.Base(tc.file), col)
				if !strings.Contains(err.Error(), "no conversion") && !strings.Contains(err.Error(), "null type") {
					t.Errorf("error %q does not say why", err)
				}
			}
			// Inference leaves the column out and says so.
			src2, err := Open(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer src2.Close()
			ds, m, err := InferSchemaMapping(src2, "rejects")
			if err != nil {
				t.Logf("no schema: %v", err)
				return
			}
			dropped := false
			for _, d := range m.Drop {
				dropped = dropped || d == col
			}
			if !dropped || !strings.Contains(ds.Description, col) {
				t.Errorf("column %s: drop %v, description %q", col, m.Drop, ds.Description)
			}
		})
	}
	// Two columns with one name: ambiguous, never one of them.
	src, err := Open(filepath.Join(dir, "feather/cpp-21.0.0/generated_duplicate_fieldnames.arrow_file"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, _, err = InferSchemaMapping(src, "dups")
	wantErr(t, err, "generated_duplicate_fieldnames.arrow_file", "both named", "ambiguous")
	name := src.Schema().Field(0).Name
	ds := dataset(t, schema.Temporal, field(name, schema.Int64))
	_, err = NewMapper(src.Schema(), ds, Mapping{Set: at2024}, "dups.arrow_file")
	wantErr(t, err, "dups.arrow_file", "both map to field")
}

// timedSource adds a "time" column (all 2024-01-01) to a source that has
// none.
type timedSource struct {
	Source
	sc *arrow.Schema
}

func withTime(src Source) Source {
	if len(src.Schema().FieldIndices("time")) > 0 {
		return src
	}
	md := src.Schema().Metadata()
	fields := append([]arrow.Field{{Name: "time", Type: arrow.FixedWidthTypes.Timestamp_s}}, src.Schema().Fields()...)
	return &timedSource{Source: src, sc: arrow.NewSchema(fields, &md)}
}

func (s *timedSource) Schema() *arrow.Schema { return s.sc }

func (s *timedSource) GeoInfo() *GeoMetadata {
	if g, ok := s.Source.(GeoSource); ok {
		return g.GeoInfo()
	}
	return nil
}

func (s *timedSource) Batches() iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		for b, err := range s.Source.Batches() {
			if err != nil {
				yield(b, err)
				return
			}
			tb := array.NewTimestampBuilder(memory.NewGoAllocator(), arrow.FixedWidthTypes.Timestamp_s.(*arrow.TimestampType))
			for i := 0; i < int(b.Record.NumRows()); i++ {
				tb.Append(1704067200)
			}
			tc := tb.NewArray()
			rec := array.NewRecordBatch(s.sc, append([]arrow.Array{tc}, b.Record.Columns()...), b.Record.NumRows())
			tc.Release()
			b.Record = rec
			ok := yield(b, nil)
			rec.Release()
			if !ok {
				return
			}
		}
	}
}

// TestInferWithoutTimeColumn: a file with no timestamp column fails
// inference unless WithoutTimeColumn, which proposes the schema (the time
// comes from --set at ingest); the mapping then needs that --set.
func TestInferWithoutTimeColumn(t *testing.T) {
	path := writeFile(t, "places.csv", "name,geometry\nberlin,POINT (13.4 52.5)\n")
	src, _ := Open(path)
	_, _, err := InferSchemaMapping(src, "places")
	src.Close()
	wantErr(t, err, "no timestamp column", "--set time=VALUE")
	src, _ = Open(path)
	ds, m, err := InferSchemaMapping(src, "places", WithoutTimeColumn())
	src.Close()
	if err != nil || ds.Kind != schema.SpatioTemporal {
		t.Fatalf("WithoutTimeColumn: %v, %v", ds, err)
	}
	m.Set = map[string]string{"time": "2024-01-01T00:00:00Z"}
	if st, err := mapFile(t, path, ds, m, nil); err != nil || st.Rows != 1 {
		t.Fatalf("mapping with --set time: %d rows, %v", st.Rows, err)
	}
}

// TestInferZMAndReservedNames: geometries with Z or M are still proposed as
// geometry, with --force-2d reported; a column named geometry that holds no
// geometries gets a field name that is not reserved.
func TestInferZMAndReservedNames(t *testing.T) {
	path := filepath.Join(corpusDir(t), "geoparquet", "example_geometry-zm_geo.parquet")
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	ds, _, err := InferSchemaMapping(src, "zm", WithoutTimeColumn(), WithIngestFlags(func(f string) { flags = append(flags, f) }))
	src.Close()
	if err != nil || ds.Kind != schema.SpatioTemporal || !slices.Contains(flags, "--force-2d") {
		t.Fatalf("ZM GeoParquet: %v, flags %v, %v", ds, flags, err)
	}

	path = writeFile(t, "words.csv", "time,geometry\n2024-01-01T00:00:00Z,north\n")
	src, _ = Open(path)
	flags = nil
	ds, m, err := InferSchemaMapping(src, "words", WithIngestFlags(func(f string) { flags = append(flags, f) }))
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, ok := ds.Field(m.Rename["geometry"])
	if ds.Kind != schema.Temporal || !ok || f.Type != schema.String || f.Name == schema.FieldGeometry || len(flags) != 0 {
		t.Fatalf("a text column named geometry: %+v, mapping %+v, flags %v", ds.Fields, m, flags)
	}
	if st, err := mapFile(t, path, ds, m, nil); err != nil || st.Rows != 1 {
		t.Fatalf("mapping: %v", err)
	}
}
