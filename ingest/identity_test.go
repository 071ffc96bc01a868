package ingest

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/uuid"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

// identityRow is one row of the cross-format table; nil fields are nulls.
type identityRow struct {
	time     time.Time
	geometry *string // WKT
	s        *string
	i        *int64
	u        *uint64
	f        *float64
	b        *bool
	by       []byte
	d        *time.Duration
	ts       *time.Time
	uid      *uuid.UUID
	v        *[3]float64 // vec3
	q        *[4]float64 // quaternion
	ll       *[2]float64 // latlon
	fa       []*float64  // float64[] (nil: null array)
	sa       []string    // string[]
	ia       []*int64    // int64[]
	tsa      []time.Time // timestamp[]
}

func ptr[T any](v T) *T { return &v }

func identityRows() []identityRow {
	t0 := time.Date(2024, 3, 1, 12, 30, 45, 123000000, time.UTC) // whole milliseconds: Feather stores ms
	return []identityRow{
		{
			time: t0, geometry: ptr("POLYGON ((10 50, 11 50, 11 51, 10 51, 10 50), (10.2 50.2, 10.2 50.4, 10.4 50.4, 10.2 50.2))"),
			s: ptr("héllo, \"world\""), i: ptr(int64(-9223372036854775808)), u: ptr(uint64(18446744073709551615)),
			f: ptr(1.5), b: ptr(true), by: []byte{0, 1, 2, 250}, d: ptr(90*time.Minute + 1500*time.Millisecond),
			ts: ptr(time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC)), uid: ptr(uuid.MustParse("123e4567-e89b-12d3-a456-426614174000")),
			v: &[3]float64{1, -2.5, 3e10}, q: &[4]float64{0, 0, 0.70710678, 0.70710678}, ll: &[2]float64{52.52, 13.405},
			fa: []*float64{ptr(-12.15), nil, ptr(13.45)}, sa: []string{"a", "b c"}, ia: []*int64{ptr(int64(1)), ptr(int64(2))},
			tsa: []time.Time{t0, t0.Add(time.Hour)},
		},
		{
			time: t0.Add(time.Second), geometry: ptr("POLYGON ((-180 -90, 180 -90, 180 90, -180 90, -180 -90))"),
			s: ptr(""), i: ptr(int64(42)), u: ptr(uint64(0)), f: ptr(-0.25), b: ptr(false), by: []byte{0xff},
			d: ptr(-time.Nanosecond), ts: ptr(t0), uid: ptr(uuid.MustParse("00000000-0000-0000-0000-000000000001")),
			v: &[3]float64{0, 0, 0}, q: &[4]float64{1, 0, 0, 0}, ll: &[2]float64{-33.9, 151.2},
			fa: []*float64{}, sa: []string{}, ia: []*int64{}, tsa: []time.Time{},
		},
		{time: t0.Add(2 * time.Second)}, // every other field null
	}
}

// identityDataset has a field of every type, scalar and array.
func identityDataset(t *testing.T) *schema.Dataset {
	return dataset(t, schema.SpatioTemporal,
		field("s", schema.String), field("i", schema.Int64), field("u", schema.Uint64), field("f", schema.Float64),
		field("b", schema.Bool), field("by", schema.Bytes), field("d", schema.Duration), field("ts", schema.Timestamp),
		field("uid", schema.UUID), field("v", schema.Vec3), field("q", schema.Quaternion), field("ll", schema.LatLon),
		arrayField("fa", schema.Float64), arrayField("sa", schema.String), arrayField("ia", schema.Int64), arrayField("tsa", schema.Timestamp),
	)
}

func wkbOf(t testing.TB, wkt string) []byte {
	t.Helper()
	g, err := geo.ParseWKT(wkt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := geo.MarshalWKB(g)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeIdentityCSV writes the rows as CSV text.
func writeIdentityCSV(t *testing.T, path string, rows []identityRow) {
	var b strings.Builder
	b.WriteString("time,geometry,s,i,u,f,b,by,d,ts,uid,v,q,ll,fa,sa,ia,tsa\n")
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	ff := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	for _, r := range rows {
		cells := []string{r.time.Format(time.RFC3339Nano)}
		add := func(ok bool, s string) {
			if ok {
				cells = append(cells, s)
			} else {
				cells = append(cells, "")
			}
		}
		add(r.geometry != nil, q(deref(r.geometry)))
		add(r.s != nil && *r.s != "", q(deref(r.s))) // CSV cannot tell "" from null: row 2 checks that below
		add(r.i != nil, fmt.Sprint(deref(r.i)))
		add(r.u != nil, fmt.Sprint(deref(r.u)))
		add(r.f != nil, ff(deref(r.f)))
		add(r.b != nil, fmt.Sprint(deref(r.b)))
		add(r.by != nil, base64.StdEncoding.EncodeToString(r.by))
		add(r.d != nil, deref(r.d).String())
		add(r.ts != nil, deref(r.ts).Format(time.RFC3339Nano))
		add(r.uid != nil, deref(r.uid).String())
		if r.v != nil {
			cells = append(cells, q(fmt.Sprintf("[%s, %s, %s]", ff(r.v[0]), ff(r.v[1]), ff(r.v[2]))))
		} else {
			cells = append(cells, "")
		}
		if r.q != nil {
			cells = append(cells, q(fmt.Sprintf("%s %s %s %s", ff(r.q[0]), ff(r.q[1]), ff(r.q[2]), ff(r.q[3]))))
		} else {
			cells = append(cells, "")
		}
		if r.ll != nil {
			cells = append(cells, q(fmt.Sprintf(`{"latitude": %s, "longitude": %s}`, ff(r.ll[0]), ff(r.ll[1]))))
		} else {
			cells = append(cells, "")
		}
		list := func(n int, isNil bool, elem func(int) string) {
			if isNil {
				cells = append(cells, "")
				return
			}
			parts := make([]string, n)
			for k := range parts {
				parts[k] = elem(k)
			}
			cells = append(cells, q("["+strings.Join(parts, ", ")+"]"))
		}
		list(len(r.fa), r.fa == nil, func(k int) string {
			if r.fa[k] == nil {
				return "null"
			}
			return ff(*r.fa[k])
		})
		list(len(r.sa), r.sa == nil, func(k int) string { return strconv.Quote(r.sa[k]) })
		list(len(r.ia), r.ia == nil, func(k int) string { return fmt.Sprint(*r.ia[k]) })
		list(len(r.tsa), r.tsa == nil, func(k int) string { return r.tsa[k].Format(time.RFC3339Nano) })
		b.WriteString(strings.Join(cells, ",") + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func deref[T any](p *T) T {
	if p == nil {
		var z T
		return z
	}
	return *p
}

// identityRecord builds the rows as a native Arrow record: timestamps in
// the given unit, UUIDs as fixed_size_binary(16) or the arrow.uuid
// extension, quaternions as a fixed-size list, latlon as a struct with
// lat/lon members, the geometry as WKB named geomName.
func identityRecord(t *testing.T, rows []identityRow, unit arrow.TimeUnit, uuidExt bool, geomName string) arrow.RecordBatch {
	// Parquet has no duration type (pqarrow cannot write one): there the
	// durations are ISO 8601 / Go text, as users store them.
	durText := uuidExt || geomName != "geometry"
	mem := memory.NewGoAllocator()
	tsType := &arrow.TimestampType{Unit: unit, TimeZone: "UTC"}
	var uidType arrow.DataType = &arrow.FixedSizeBinaryType{ByteWidth: 16}
	if uuidExt {
		uidType = extensions.NewUUIDType()
	}
	f64 := arrow.PrimitiveTypes.Float64
	fields := []arrow.Field{
		{Name: "time", Type: tsType},
		{Name: geomName, Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "u", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f", Type: f64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "by", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "d", Type: &arrow.DurationType{Unit: arrow.Nanosecond}, Nullable: true},
	}
	if durText {
		fields[8].Type = arrow.BinaryTypes.LargeString
	}
	fields = append(fields, []arrow.Field{
		{Name: "ts", Type: tsType, Nullable: true},
		{Name: "uid", Type: uidType, Nullable: true},
		{Name: "v", Type: arrow.StructOf(arrow.Field{Name: "x", Type: f64}, arrow.Field{Name: "y", Type: f64}, arrow.Field{Name: "z", Type: f64}), Nullable: true},
		{Name: "q", Type: arrow.FixedSizeListOf(4, f64), Nullable: true},
		{Name: "ll", Type: arrow.StructOf(arrow.Field{Name: "lat", Type: f64}, arrow.Field{Name: "lon", Type: f64}), Nullable: true},
		{Name: "fa", Type: arrow.ListOf(f64), Nullable: true},
		{Name: "sa", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "ia", Type: arrow.LargeListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "tsa", Type: arrow.ListOf(tsType), Nullable: true},
	}...)
	sc := arrow.NewSchema(fields, nil)
	rb := array.NewRecordBuilder(mem, sc)
	defer rb.Release()
	ts := func(x time.Time) arrow.Timestamp {
		v, err := arrow.TimestampFromTime(x, unit)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, r := range rows {
		rb.Field(0).(*array.TimestampBuilder).Append(ts(r.time))
		appendOr := func(k int, ok bool, fn func(array.Builder)) {
			if ok {
				fn(rb.Field(k))
			} else {
				rb.Field(k).AppendNull()
			}
		}
		appendOr(1, r.geometry != nil, func(b array.Builder) { b.(*array.BinaryBuilder).Append(wkbOf(t, *r.geometry)) })
		appendOr(2, r.s != nil, func(b array.Builder) { b.(*array.StringBuilder).Append(*r.s) })
		appendOr(3, r.i != nil, func(b array.Builder) { b.(*array.Int64Builder).Append(*r.i) })
		appendOr(4, r.u != nil, func(b array.Builder) { b.(*array.Uint64Builder).Append(*r.u) })
		appendOr(5, r.f != nil, func(b array.Builder) { b.(*array.Float64Builder).Append(*r.f) })
		appendOr(6, r.b != nil, func(b array.Builder) { b.(*array.BooleanBuilder).Append(*r.b) })
		appendOr(7, r.by != nil, func(b array.Builder) { b.(*array.BinaryBuilder).Append(r.by) })
		appendOr(8, r.d != nil, func(b array.Builder) {
			if db, ok := b.(*array.DurationBuilder); ok {
				db.Append(arrow.Duration(*r.d))
			} else {
				b.(*array.LargeStringBuilder).Append(r.d.String())
			}
		})
		appendOr(9, r.ts != nil, func(b array.Builder) { b.(*array.TimestampBuilder).Append(ts(*r.ts)) })
		appendOr(10, r.uid != nil, func(b array.Builder) {
			if ub, ok := b.(*extensions.UUIDBuilder); ok {
				ub.Append(*r.uid)
			} else {
				b.(*array.FixedSizeBinaryBuilder).Append(r.uid[:])
			}
		})
		appendOr(11, r.v != nil, func(b array.Builder) {
			sb := b.(*array.StructBuilder)
			sb.Append(true)
			for k := 0; k < 3; k++ {
				sb.FieldBuilder(k).(*array.Float64Builder).Append(r.v[k])
			}
		})
		appendOr(12, r.q != nil, func(b array.Builder) {
			lb := b.(*array.FixedSizeListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Float64Builder).AppendValues(r.q[:], nil)
		})
		appendOr(13, r.ll != nil, func(b array.Builder) {
			sb := b.(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.Float64Builder).Append(r.ll[0])
			sb.FieldBuilder(1).(*array.Float64Builder).Append(r.ll[1])
		})
		appendOr(14, r.fa != nil, func(b array.Builder) {
			lb := b.(*array.ListBuilder)
			lb.Append(true)
			for _, x := range r.fa {
				if x == nil {
					lb.ValueBuilder().AppendNull()
				} else {
					lb.ValueBuilder().(*array.Float64Builder).Append(*x)
				}
			}
		})
		appendOr(15, r.sa != nil, func(b array.Builder) {
			lb := b.(*array.ListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.StringBuilder).AppendValues(r.sa, nil)
		})
		appendOr(16, r.ia != nil, func(b array.Builder) {
			lb := b.(*array.LargeListBuilder)
			lb.Append(true)
			for _, x := range r.ia {
				lb.ValueBuilder().(*array.Int64Builder).Append(*x)
			}
		})
		appendOr(17, r.tsa != nil, func(b array.Builder) {
			lb := b.(*array.ListBuilder)
			lb.Append(true)
			for _, x := range r.tsa {
				lb.ValueBuilder().(*array.TimestampBuilder).Append(ts(x))
			}
		})
	}
	return rb.NewRecordBatch()
}

func writeParquet(t *testing.T, path string, rec arrow.RecordBatch, kv map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithDictionaryDefault(true))
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	for k, v := range kv {
		if err := w.AppendKeyValueMetadata(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFeather(t *testing.T, path string, rec arrow.RecordBatch) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(rec.Schema()), ipc.WithLZ4())
	if err != nil {
		t.Fatal(err)
	}
	// Two batches, to cross a batch boundary.
	for _, r := range []arrow.RecordBatch{rec.NewSlice(0, 2), rec.NewSlice(2, rec.NumRows())} {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		r.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestCrossFormatIdentity writes one table with every field type as CSV,
// Parquet, GeoParquet and Feather (LZ4), reads and maps each through Open
// and NewMapper, and checks that all give the same canonical columns and
// the same datapoint bytes and IDs.
func TestCrossFormatIdentity(t *testing.T) {
	rows := identityRows()
	ds := identityDataset(t)
	dir := t.TempDir()

	csvPath := filepath.Join(dir, "table.csv")
	writeIdentityCSV(t, csvPath, rows)
	pqPath := filepath.Join(dir, "table.parquet")
	rec := identityRecord(t, rows, arrow.Microsecond, true, "geometry")
	writeParquet(t, pqPath, rec, nil)
	rec.Release()
	// GeoParquet: the geometry column is named geom and declared primary.
	geoPath := filepath.Join(dir, "table.geoparquet")
	rec = identityRecord(t, rows, arrow.Nanosecond, false, "geom")
	writeParquet(t, geoPath, rec, map[string]string{geoKey: `{"version":"1.1.0","primary_column":"geom","columns":{"geom":{"encoding":"WKB","geometry_types":["Polygon"]}}}`})
	rec.Release()
	featherPath := filepath.Join(dir, "table.feather")
	rec = identityRecord(t, rows, arrow.Millisecond, false, "geometry")
	writeFeather(t, featherPath, rec)
	rec.Release()

	type result struct {
		cols map[string]arrow.Array
		ids  [][16]byte
		data [][]byte
	}
	read := func(path string) result {
		t.Helper()
		res := result{cols: map[string]arrow.Array{}}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		src, err := Open(path, WithAllocator(mem), WithBatchSize(2))
		if err != nil {
			t.Fatal(err)
		}
		mp, err := NewMapper(src.Schema(), ds, Mapping{}, filepath.Base(path), WithAllocator(mem))
		if err != nil {
			t.Fatal(err)
		}
		var parts = map[string][]arrow.Array{}
		for b, err := range src.Batches() {
			if err != nil {
				t.Fatal(err)
			}
			out, err := mp.Map(b)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := convert.NewEncoder(ds, out.Schema())
			if err != nil {
				t.Fatal(err)
			}
			_, dps, err := enc.Encode(out, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, dp := range dps {
				res.ids = append(res.ids, [16]byte(dp.ID))
				res.data = append(res.data, append([]byte(nil), dp.Data...))
			}
			for i, f := range out.Schema().Fields() {
				c := out.Column(i)
				c.Retain()
				parts[f.Name] = append(parts[f.Name], c)
			}
			out.Release()
		}
		src.Close()
		for name, ps := range parts {
			c, err := array.Concatenate(ps, memory.NewGoAllocator())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				p.Release()
			}
			res.cols[name] = c
		}
		mem.AssertSize(t, 0)
		return res
	}
	want := read(csvPath)
	if len(want.cols) != len(ds.Fields)-2 {
		t.Fatalf("CSV mapped %d fields, want %d", len(want.cols), len(ds.Fields)-2)
	}
	if want.cols["s"].IsValid(1) {
		t.Fatal("an empty CSV cell is null")
	}
	var native *result
	for _, tc := range []struct{ name, path string }{
		{"Parquet", pqPath},
		{"GeoParquet", geoPath},
		{"Feather", featherPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := read(tc.path)
			for name, w := range want.cols {
				g, ok := got.cols[name]
				if !ok {
					t.Errorf("no field %s", name)
					continue
				}
				if name == "s" {
					// Row 2 is "" natively, null in CSV.
					if g.(*array.String).Value(1) != "" || g.IsNull(1) {
						t.Errorf("s row 2: %q", g.ValueStr(1))
					}
					g = array.NewSlice(g, 0, 1)
					w = array.NewSlice(w, 0, 1)
				}
				if !array.Equal(g, w) {
					t.Errorf("field %s: %s maps to\n%v\nCSV to\n%v", name, tc.name, g, w)
				}
			}
			// Identical datapoints, identical IDs (but for row 2, whose
			// string is "" here and null in CSV: the native formats agree).
			if len(got.ids) != len(rows) {
				t.Fatalf("%d datapoints", len(got.ids))
			}
			for r := range want.ids {
				w := want
				if r == 1 {
					if native == nil {
						continue
					}
					w = *native
				}
				if got.ids[r] != w.ids[r] || string(got.data[r]) != string(w.data[r]) {
					t.Errorf("row %d: ID %x, want %x", r+1, got.ids[r], w.ids[r])
				}
			}
			if native == nil {
				native = &got
			}
		})
	}
}
