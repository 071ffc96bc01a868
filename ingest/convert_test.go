package ingest

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/granaryhq/granary/schema"
)

func fromJSON(t *testing.T, mem memory.Allocator, dt arrow.DataType, js string) arrow.Array {
	t.Helper()
	a, _, err := array.FromJSON(mem, dt, strings.NewReader(js))
	if err != nil {
		t.Fatalf("building %s from %s: %v", dt, js, err)
	}
	return a
}

type arrowCase struct {
	name    string
	dt      arrow.DataType
	js      string // the values as JSON (array.FromJSON)
	build   func(memory.Allocator) arrow.Array
	field   schema.Field
	want    []string
	planErr string // NewMapper-time error: no conversion
	err     string // row-time error
	stats   Stats
}

func ts(u arrow.TimeUnit, tz string) arrow.DataType {
	return &arrow.TimestampType{Unit: u, TimeZone: tz}
}

func wkbBytes(g orb.Geometry, bo binary.ByteOrder) []byte {
	b, err := wkb.Marshal(g, bo)
	if err != nil {
		panic(err)
	}
	return b
}

// TestArrowConversions converts native Arrow columns (as Parquet and
// Feather deliver them) into each field type.
func TestArrowConversions(t *testing.T) {
	vec := func(names ...string) arrow.DataType {
		fs := make([]arrow.Field, len(names))
		for i, n := range names {
			fs[i] = arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float32, Nullable: true}
		}
		return arrow.StructOf(fs...)
	}
	u := uuid.MustParse("123e4567-e89b-12d3-a456-426614174000")
	pt := orb.Point{30, 10}
	cases := []arrowCase{
		// integers
		{name: "int8→int64", dt: arrow.PrimitiveTypes.Int8, js: `[-128, 127, null]`, field: field("x", schema.Int64), want: []string{"-128", "127", "<null>"}},
		{name: "int16→int64", dt: arrow.PrimitiveTypes.Int16, js: `[-32768]`, field: field("x", schema.Int64), want: []string{"-32768"}},
		{name: "int32→int64", dt: arrow.PrimitiveTypes.Int32, js: `[2147483647]`, field: field("x", schema.Int64), want: []string{"2147483647"}},
		{name: "int64→int64", dt: arrow.PrimitiveTypes.Int64, js: `[-9223372036854775808]`, field: field("x", schema.Int64), want: []string{"-9223372036854775808"}},
		{name: "uint32→int64", dt: arrow.PrimitiveTypes.Uint32, js: `[4294967295]`, field: field("x", schema.Int64), want: []string{"4294967295"}},
		{name: "uint64→int64 fits", dt: arrow.PrimitiveTypes.Uint64, js: `[9223372036854775807]`, field: field("x", schema.Int64), want: []string{"9223372036854775807"}},
		{name: "uint64→int64 overflow", dt: arrow.PrimitiveTypes.Uint64, js: `[1, 9223372036854775808]`, field: field("x", schema.Int64), err: "out of range for int64"},
		{name: "uint8→uint64", dt: arrow.PrimitiveTypes.Uint8, js: `[255]`, field: field("x", schema.Uint64), want: []string{"255"}},
		{name: "uint64→uint64", dt: arrow.PrimitiveTypes.Uint64, js: `[18446744073709551615]`, field: field("x", schema.Uint64), want: []string{"18446744073709551615"}},
		{name: "int16→uint64", dt: arrow.PrimitiveTypes.Int16, js: `[7]`, field: field("x", schema.Uint64), want: []string{"7"}},
		{name: "int64→uint64 negative", dt: arrow.PrimitiveTypes.Int64, js: `[-1]`, field: field("x", schema.Uint64), err: "negative"},
		{name: "float64→int64 refused", dt: arrow.PrimitiveTypes.Float64, js: `[1]`, field: field("x", schema.Int64), planErr: "float into an integer field"},
		{name: "float32→uint64 refused", dt: arrow.PrimitiveTypes.Float32, js: `[1]`, field: field("x", schema.Uint64), planErr: "could lose data"},
		{name: "bool→int64 refused", dt: arrow.FixedWidthTypes.Boolean, js: `[true]`, field: field("x", schema.Int64), planErr: "no conversion from bool to int64"},
		// floats
		{name: "float64→float64", dt: arrow.PrimitiveTypes.Float64, js: `[1.5, null, -0.0]`, field: field("x", schema.Float64), want: []string{"1.5", "<null>", "-0"}},
		{name: "float32→float64", dt: arrow.PrimitiveTypes.Float32, js: `[0.1]`, field: field("x", schema.Float64), want: []string{"0.10000000149011612"}},
		{name: "float16→float64", dt: arrow.FixedWidthTypes.Float16, js: `[0.5]`, field: field("x", schema.Float64), want: []string{"0.5"}},
		{name: "int64→float64 exact", dt: arrow.PrimitiveTypes.Int64, js: `[9007199254740992, -3]`, field: field("x", schema.Float64), want: []string{"9.007199254740992e+15", "-3"}},
		{name: "int64→float64 inexact", dt: arrow.PrimitiveTypes.Int64, js: `[9007199254740993]`, field: field("x", schema.Float64), err: "not exactly representable"},
		{name: "int64 max→float64 inexact", dt: arrow.PrimitiveTypes.Int64, js: `[9223372036854775807]`, field: field("x", schema.Float64), err: "not exactly representable"},
		{name: "uint64→float64 inexact", dt: arrow.PrimitiveTypes.Uint64, js: `[18446744073709551615]`, field: field("x", schema.Float64), err: "not exactly representable"},
		{name: "decimal exact→float64", dt: &arrow.Decimal128Type{Precision: 10, Scale: 3}, js: `["0.5", "-2.125", null]`, field: field("x", schema.Float64), want: []string{"0.5", "-2.125", "<null>"}},
		{name: "decimal inexact→float64", dt: &arrow.Decimal128Type{Precision: 10, Scale: 2}, js: `["0.5", "123.45"]`, field: field("x", schema.Float64), err: "not exactly representable"},
		{name: "decimal256→float64", dt: &arrow.Decimal256Type{Precision: 40, Scale: 0}, js: `["1024"]`, field: field("x", schema.Float64), want: []string{"1024"}},
		{name: "decimal→int64", dt: &arrow.Decimal128Type{Precision: 20, Scale: 2}, js: `["12.00", "-7"]`, field: field("x", schema.Int64), want: []string{"12", "-7"}},
		{name: "decimal fraction→int64", dt: &arrow.Decimal128Type{Precision: 20, Scale: 2}, js: `["12.50"]`, field: field("x", schema.Int64), err: "fractional part"},
		{name: "decimal→int64 overflow", dt: &arrow.Decimal128Type{Precision: 38, Scale: 0}, js: `["99999999999999999999"]`, field: field("x", schema.Int64), err: "out of range"},
		{name: "decimal→uint64", dt: &arrow.Decimal128Type{Precision: 38, Scale: 0}, js: `["18446744073709551615"]`, field: field("x", schema.Uint64), want: []string{"18446744073709551615"}},
		// bool, strings, bytes
		{name: "bool", dt: arrow.FixedWidthTypes.Boolean, js: `[true, false, null]`, field: field("x", schema.Bool), want: []string{"true", "false", "<null>"}},
		{name: "large_string→string", dt: arrow.BinaryTypes.LargeString, js: `["a", null, ""]`, field: field("x", schema.String), want: []string{"a", "<null>", ""}},
		{name: "string_view→string", dt: arrow.BinaryTypes.StringView, js: `["a long string value beyond the inline size"]`, field: field("x", schema.String), want: []string{"a long string value beyond the inline size"}},
		{name: "large_string→float64 (text)", dt: arrow.BinaryTypes.LargeString, js: `["1.5", "", "x"]`, field: field("x", schema.Float64), err: "not a number"},
		{name: "binary→string", build: func(mem memory.Allocator) arrow.Array {
			b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
			defer b.Release()
			b.Append([]byte("héllo"))
			return b.NewArray()
		}, field: field("x", schema.String), want: []string{"héllo"}},
		{name: "binary→string invalid", build: func(mem memory.Allocator) arrow.Array {
			b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
			defer b.Release()
			b.Append([]byte{0xff})
			return b.NewArray()
		}, field: field("x", schema.String), err: "UTF-8"},
		{name: "int64→string refused", dt: arrow.PrimitiveTypes.Int64, js: `[1]`, field: field("x", schema.String), planErr: "no conversion from int64 to string"},
		{name: "large_binary→bytes", dt: arrow.BinaryTypes.LargeBinary, js: `["aGk="]`, field: field("x", schema.Bytes), want: []string{"6869"}},
		{name: "fixed_size_binary→bytes", dt: &arrow.FixedSizeBinaryType{ByteWidth: 2}, js: `["aGk="]`, field: field("x", schema.Bytes), want: []string{"6869"}},
		// times
		{name: "timestamp[s, Europe/Berlin]", dt: ts(arrow.Second, "Europe/Berlin"), js: `[0, 1704067200, null]`, field: field("t", schema.Timestamp), want: []string{"1970-01-01T00:00:00Z", "2024-01-01T00:00:00Z", "<null>"}},
		{name: "timestamp[ms]", dt: ts(arrow.Millisecond, ""), js: `[1704067200123]`, field: field("t", schema.Timestamp), want: []string{"2024-01-01T00:00:00.123Z"}},
		{name: "timestamp[us, +05:30]", dt: ts(arrow.Microsecond, "+05:30"), js: `[-1]`, field: field("t", schema.Timestamp), want: []string{"1969-12-31T23:59:59.999999Z"}},
		{name: "timestamp[ns, America/New_York]", dt: ts(arrow.Nanosecond, "America/New_York"), js: `[1704067200000000001]`, field: field("t", schema.Timestamp), want: []string{"2024-01-01T00:00:00.000000001Z"}},
		{name: "timestamp[ns] NaT is null", dt: ts(arrow.Nanosecond, ""), js: `[-9223372036854775808, 0]`, field: field("t", schema.Timestamp), want: []string{"<null>", "1970-01-01T00:00:00Z"}},
		{name: "timestamp[ms] overflow", dt: ts(arrow.Millisecond, "UTC"), js: `[9223372036854775]`, field: field("t", schema.Timestamp), err: "out of range"},
		{name: "timestamp[s] year 2300", dt: ts(arrow.Second, "UTC"), js: `[10413792000]`, field: field("t", schema.Timestamp), err: "out of range"},
		{name: "date32", dt: arrow.FixedWidthTypes.Date32, js: `[19723, -1]`, field: field("t", schema.Timestamp), want: []string{"2024-01-01T00:00:00Z", "1969-12-31T00:00:00Z"}},
		{name: "date64", dt: arrow.FixedWidthTypes.Date64, js: `[1704067200000]`, field: field("t", schema.Timestamp), want: []string{"2024-01-01T00:00:00Z"}},
		{name: "int64→timestamp refused", dt: arrow.PrimitiveTypes.Int64, js: `[1]`, field: field("t", schema.Timestamp), planErr: "no unit"},
		{name: "time64→timestamp refused", dt: arrow.FixedWidthTypes.Time64us, js: `[1]`, field: field("t", schema.Timestamp), planErr: "no conversion"},
		{name: "duration[s]", dt: arrow.FixedWidthTypes.Duration_s, js: `[90, -1]`, field: field("d", schema.Duration), want: []string{"1m30s", "-1s"}},
		{name: "duration[ms]", dt: arrow.FixedWidthTypes.Duration_ms, js: `[1500]`, field: field("d", schema.Duration), want: []string{"1.5s"}},
		{name: "duration[us]", dt: arrow.FixedWidthTypes.Duration_us, js: `[1]`, field: field("d", schema.Duration), want: []string{"1µs"}},
		{name: "duration[ns]", dt: arrow.FixedWidthTypes.Duration_ns, js: `[1, null]`, field: field("d", schema.Duration), want: []string{"1ns", "<null>"}},
		{name: "duration[s] overflow", dt: arrow.FixedWidthTypes.Duration_s, js: `[9223372036854]`, field: field("d", schema.Duration), err: "out of range"},
		// uuid
		{name: "fixed_size_binary(16)→uuid", build: func(mem memory.Allocator) arrow.Array {
			b := array.NewFixedSizeBinaryBuilder(mem, &arrow.FixedSizeBinaryType{ByteWidth: 16})
			defer b.Release()
			b.Append(u[:])
			b.AppendNull()
			return b.NewArray()
		}, field: field("u", schema.UUID), want: []string{u.String(), "<null>"}},
		{name: "arrow.uuid→uuid", build: func(mem memory.Allocator) arrow.Array {
			b := extensions.NewUUIDBuilder(mem)
			defer b.Release()
			b.Append(u)
			return b.NewArray()
		}, field: field("u", schema.UUID), want: []string{u.String()}},
		{name: "binary→uuid", build: func(mem memory.Allocator) arrow.Array {
			b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
			defer b.Release()
			b.Append(u[:])
			b.Append(u[:15])
			return b.NewArray()
		}, field: field("u", schema.UUID), err: "16 bytes, this value has 15"},
		{name: "fixed_size_binary(8)→uuid", dt: &arrow.FixedSizeBinaryType{ByteWidth: 8}, js: `["AAAAAAAAAAA="]`, field: field("u", schema.UUID), planErr: "16 bytes"},
		{name: "string→uuid", dt: arrow.BinaryTypes.String, js: `["{123e4567-e89b-12d3-a456-426614174000}"]`, field: field("u", schema.UUID), want: []string{u.String()}},
		// geometry
		{name: "wkb→geometry", build: func(mem memory.Allocator) arrow.Array {
			b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
			defer b.Release()
			b.Append(wkbBytes(pt, binary.LittleEndian))
			b.Append(wkbBytes(pt, binary.BigEndian))
			b.AppendNull()
			return b.NewArray()
		}, field: field("geometry", schema.Geometry), want: []string{wkbHex(pt), wkbHex(pt), "<null>"}},
		{name: "bad wkb→geometry", build: func(mem memory.Allocator) arrow.Array {
			b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.LargeBinary)
			defer b.Release()
			b.Append(wkbBytes(pt, binary.LittleEndian)[:9])
			return b.NewArray()
		}, field: field("geometry", schema.Geometry), err: "wkb"},
		{name: "string WKT→geometry", dt: arrow.BinaryTypes.String, js: `["POINT (30 10)"]`, field: field("geometry", schema.Geometry), want: []string{wkbHex(pt)}},
		{name: "float64→geometry refused", dt: arrow.PrimitiveTypes.Float64, js: `[1]`, field: field("geometry", schema.Geometry), planErr: "no conversion"},
		// vec3 & co
		{name: "struct<x,y,z float32>→vec3", dt: vec("x", "y", "z"), js: `[{"x": 1, "y": 2, "z": 3}, null]`, field: field("v", schema.Vec3), want: []string{"(1 2 3)", "<null>"}},
		{name: "struct<Z,Y,X>→vec3 by name", dt: vec("Z", "Y", "X"), js: `[{"Z": 3, "Y": 2, "X": 1}]`, field: field("v", schema.Vec3), want: []string{"(1 2 3)"}},
		{name: "struct<lon,lat>→latlon", dt: vec("lon", "lat"), js: `[{"lon": 13.5, "lat": 52.5}]`, field: field("p", schema.LatLon), want: []string{"(52.5 13.5)"}},
		{name: "struct null member", dt: vec("x", "y", "z"), js: `[{"x": 1, "y": null, "z": 3}]`, field: field("v", schema.Vec3), err: `member "y" is null`},
		{name: "struct<x,y>→vec3 refused", dt: vec("x", "y"), js: `[]`, field: field("v", schema.Vec3), planErr: `no member "z"`},
		{name: "struct<x,y,z,w>→vec3 refused", dt: vec("x", "y", "z", "w"), js: `[]`, field: field("v", schema.Vec3), planErr: `member "w" has no place`},
		{name: "struct<q1..q4 int32>→quaternion", dt: arrow.StructOf(
			arrow.Field{Name: "q1", Type: arrow.PrimitiveTypes.Int32}, arrow.Field{Name: "q2", Type: arrow.PrimitiveTypes.Int32},
			arrow.Field{Name: "q3", Type: arrow.PrimitiveTypes.Int32}, arrow.Field{Name: "q4", Type: arrow.PrimitiveTypes.Int32}),
			js: `[{"q1": 0, "q2": 0, "q3": 0, "q4": 1}]`, field: field("q", schema.Quaternion), want: []string{"(0 0 0 1)"}},
		{name: "fixed_size_list[3]→vec3", dt: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float64), js: `[[1, 2, 3], null]`, field: field("v", schema.Vec3), want: []string{"(1 2 3)", "<null>"}},
		{name: "fixed_size_list[2]→vec3 refused", dt: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float64), js: `[]`, field: field("v", schema.Vec3), planErr: "want 3 numbers"},
		{name: "list→latlonalt", dt: arrow.ListOf(arrow.PrimitiveTypes.Float64), js: `[[52.5, 13.4, 34], [1, 2]]`, field: field("p", schema.LatLonAlt), err: "want 3 numbers (latitude, longitude, altitude), got 2"},
		// arrays
		{name: "list<float64>→float64[] zero copy", dt: arrow.ListOf(arrow.PrimitiveTypes.Float64), js: `[[1, 2], [], null, ["NaN"]]`, field: arrayField("a", schema.Float64), want: []string{"[1, 2]", "[]", "<null>", "[NaN]"}},
		{name: "list<float64> nulls dropped", dt: arrow.ListOf(arrow.PrimitiveTypes.Float64), js: `[[1, null, 2], [null]]`, field: arrayField("a", schema.Float64), want: []string{"[1, 2]", "[]"}, stats: Stats{NullElements: 2}},
		{name: "large_list<int32>→int64[]", dt: arrow.LargeListOf(arrow.PrimitiveTypes.Int32), js: `[[1, 2, 3], null]`, field: arrayField("a", schema.Int64), want: []string{"[1, 2, 3]", "<null>"}},
		{name: "list_view<int16>→int64[]", dt: arrow.ListViewOf(arrow.PrimitiveTypes.Int16), js: `[[4, 5]]`, field: arrayField("a", schema.Int64), want: []string{"[4, 5]"}},
		{name: "fixed_size_list padding", dt: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float64),
			js:    `[[1, 2, "NaN", "NaN"], [1, "NaN", 3, null], ["NaN", "NaN", "NaN", "NaN"], [null, null, null, null], [1, null, 2, 3], null]`,
			field: arrayField("a", schema.Float64), want: []string{"[1, 2]", "[1, NaN, 3]", "[]", "[]", "[1, 2, 3]", "<null>"},
			stats: Stats{Padding: 2 + 1 + 4 + 4, NullElements: 1}},
		{name: "fixed_size_list<int64> null padding", dt: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Int64), js: `[[7, null, null]]`, field: arrayField("a", schema.Int64), want: []string{"[7]"}, stats: Stats{Padding: 2}},
		{name: "fixed_size_list<float32> NaN padding", dt: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float32), js: `[[0.5, "NaN", "NaN"]]`, field: arrayField("a", schema.Float64), want: []string{"[0.5]"}, stats: Stats{Padding: 2}},
		{name: "fixed_size_list<timestamp> NaT padding", dt: arrow.FixedSizeListOf(3, ts(arrow.Microsecond, "UTC")), js: `[[0, -9223372036854775808, null]]`, field: arrayField("a", schema.Timestamp), want: []string{"[1970-01-01T00:00:00Z]"}, stats: Stats{Padding: 2}},
		{name: "list<timestamp> NaT dropped", dt: arrow.ListOf(ts(arrow.Nanosecond, "UTC")), js: `[[-9223372036854775808, 0]]`, field: arrayField("a", schema.Timestamp), want: []string{"[1970-01-01T00:00:00Z]"}, stats: Stats{NullElements: 1}},
		{name: "list<string>→float64[] parses text", dt: arrow.ListOf(arrow.BinaryTypes.String), js: `[["1.5", "x"]]`, field: arrayField("a", schema.Float64), err: "element 2: not a number"},
		{name: "list<struct>→vec3[]", dt: arrow.ListOf(vec("x", "y", "z")), js: `[[{"x": 1, "y": 2, "z": 3}, null]]`, field: arrayField("a", schema.Vec3), want: []string{"[(1 2 3)]"}, stats: Stats{NullElements: 1}},
		{name: "list<int64> overflow→uint64[]", dt: arrow.ListOf(arrow.PrimitiveTypes.Int64), js: `[[1, -2]]`, field: arrayField("a", schema.Uint64), err: "element 2: negative"},
		{name: "float64→float64[] refused", dt: arrow.PrimitiveTypes.Float64, js: `[1]`, field: arrayField("a", schema.Float64), planErr: "single values"},
		{name: "list→float64 refused", dt: arrow.ListOf(arrow.PrimitiveTypes.Float64), js: `[]`, field: field("a", schema.Float64), planErr: "declare the field as float64[]"},
		{name: "map refused", dt: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), js: `[]`, field: arrayField("a", schema.Int64), planErr: "no conversion"},
		{name: "null type refused", dt: arrow.Null, js: `[null]`, field: field("a", schema.String), planErr: "null type"},
		// dictionaries
		{name: "dictionary<int8, utf8>→string", build: func(mem memory.Allocator) arrow.Array {
			b := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
			defer b.Release()
			b.AppendString("setosa")
			b.AppendString("virginica")
			b.AppendNull()
			b.AppendString("setosa")
			return b.NewArray()
		}, field: field("s", schema.String), want: []string{"setosa", "virginica", "<null>", "setosa"}},
		{name: "dictionary<int32, utf8>→timestamp", build: func(mem memory.Allocator) arrow.Array {
			b := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
			defer b.Release()
			b.AppendString("2024-01-01")
			b.AppendString("2024-13-01")
			return b.NewArray()
		}, field: field("t", schema.Timestamp), err: "month out of range"},
		{name: "dictionary<int8, int64>→float64", build: func(mem memory.Allocator) arrow.Array {
			b := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.PrimitiveTypes.Int64}).(*array.Int64DictionaryBuilder)
			defer b.Release()
			b.Append(5)
			b.Append(5)
			b.AppendNull()
			return b.NewArray()
		}, field: field("f", schema.Float64), want: []string{"5", "5", "<null>"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := checkedMem(t)
			var src arrow.Array
			if tc.build != nil {
				src = tc.build(mem)
			} else {
				src = fromJSON(t, mem, tc.dt, tc.js)
			}
			defer src.Release()
			if tc.planErr != "" {
				_, err := planFor(src.DataType(), tc.field, planOpts{})
				wantErr(t, err, tc.planErr)
				return
			}
			got, st, err := convertArray(t, mem, src, tc.field)
			if tc.err != "" {
				wantErr(t, err, tc.err)
				if got != nil {
					got.Release()
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer got.Release()
			if !arrow.TypeEqual(got.DataType(), schema.ArrowType(tc.field)) {
				t.Errorf("type %s, want %s", got.DataType(), schema.ArrowType(tc.field))
			}
			if r := renderAll(got); strings.Join(r, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got  %q\nwant %q", r, tc.want)
			}
			if st != tc.stats {
				t.Errorf("stats %+v, want %+v", st, tc.stats)
			}
		})
	}
}

// Columns already in the canonical type pass through without a copy.
func TestZeroCopy(t *testing.T) {
	mem := checkedMem(t)
	for _, tc := range []struct {
		dt arrow.DataType
		js string
		f  schema.Field
	}{
		{arrow.PrimitiveTypes.Float64, `[1, 2]`, field("x", schema.Float64)},
		{arrow.PrimitiveTypes.Int64, `[1, 2]`, field("x", schema.Int64)},
		{arrow.BinaryTypes.String, `["a", "é"]`, field("x", schema.String)},
		{ts(arrow.Nanosecond, "Europe/Berlin"), `[1, 2]`, field("t", schema.Timestamp)},
		{ts(arrow.Nanosecond, "UTC"), `[1, 2]`, field("t", schema.Timestamp)},
		{arrow.FixedWidthTypes.Duration_ns, `[1, 2]`, field("d", schema.Duration)},
		{arrow.ListOf(arrow.PrimitiveTypes.Float64), `[[1, 2], null, []]`, arrayField("a", schema.Float64)},
	} {
		src := fromJSON(t, mem, tc.dt, tc.js)
		slice := array.NewSlice(src, 1, int64(src.Len()))
		for _, in := range []arrow.Array{src, slice} {
			p, err := planFor(in.DataType(), tc.f, planOpts{})
			if err != nil {
				t.Fatal(err)
			}
			if p.same == nil {
				t.Errorf("%s → %s: no zero-copy path", tc.dt, tc.f.TypeString())
				continue
			}
			got := p.same(in, schema.ArrowType(tc.f))
			if got == nil {
				t.Errorf("%s → %s: not passed through", tc.dt, tc.f.TypeString())
				continue
			}
			if !arrow.TypeEqual(got.DataType(), schema.ArrowType(tc.f)) {
				t.Errorf("type %s", got.DataType())
			}
			if a, b := strings.Join(renderAll(got), "|"), strings.Join(renderAllRaw(in), "|"); a != b {
				t.Errorf("%s: values %s, want %s", tc.dt, a, b)
			}
			got.Release()
		}
		slice.Release()
		src.Release()
	}
	// Invalid UTF-8 and NaT disable the shortcut (the slow path then
	// reports or converts them).
	bad := stringArray(mem, "ok", "\xff")
	defer bad.Release()
	if p, _ := planFor(bad.DataType(), field("x", schema.String), planOpts{}); p.same(bad, arrow.BinaryTypes.String) != nil {
		t.Error("invalid UTF-8 passed through")
	}
	nat := fromJSON(t, mem, ts(arrow.Nanosecond, "UTC"), `[-9223372036854775808]`)
	defer nat.Release()
	if p, _ := planFor(nat.DataType(), field("t", schema.Timestamp), planOpts{}); p.same(nat, schema.TimestampType) != nil {
		t.Error("NaT passed through")
	}
}

// renderAllRaw renders a source array through its canonical twin.
func renderAllRaw(a arrow.Array) []string {
	switch a.DataType().ID() {
	case arrow.TIMESTAMP:
		r := retype(a, schema.TimestampType)
		defer r.Release()
		return renderAll(r)
	}
	return renderAll(a)
}

func TestScaleNanos(t *testing.T) {
	for _, tc := range []struct {
		v, f int64
		ok   bool
	}{
		{math.MaxInt64 / 1000, 1000, true},
		{math.MaxInt64/1000 + 1, 1000, false},
		{math.MinInt64 / 1000, 1000, true},
		{math.MinInt64/1000 - 1, 1000, false},
		{math.MinInt64, 1, true},
	} {
		if _, ok := scaleNanos(tc.v, tc.f); ok != tc.ok {
			t.Errorf("scaleNanos(%d, %d) ok=%v", tc.v, tc.f, ok)
		}
	}
}

// TestRoundFloats: decimals and integers a float64 field cannot hold
// exactly are refused (naming row and column and the way out), and rounded
// to the nearest float64 when asked, in scalar and array fields alike.
func TestRoundFloats(t *testing.T) {
	mem := memory.NewGoAllocator()
	dec := &arrow.Decimal128Type{Precision: 10, Scale: 2}
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Second}},
		{Name: "price", Type: dec},
		{Name: "big", Type: arrow.PrimitiveTypes.Int64},
		{Name: "prices", Type: arrow.ListOf(dec)},
	}, nil)
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	b.Field(0).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1, 2}, nil)
	b.Field(1).(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(150), decimal128.FromI64(1999)}, nil) // 1.50, 19.99
	b.Field(2).(*array.Int64Builder).AppendValues([]int64{1 << 53, 1<<53 + 1}, nil)
	lb := b.Field(3).(*array.ListBuilder)
	for range 2 {
		lb.Append(true)
		lb.ValueBuilder().(*array.Decimal128Builder).Append(decimal128.FromI64(1999))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	ds := dataset(t, schema.Temporal, field("price", schema.Float64), field("big", schema.Float64), arrayField("prices", schema.Float64))

	for _, col := range []string{"price", "big", "prices"} {
		var drop []string
		for _, other := range []string{"price", "big", "prices"} {
			if other != col {
				drop = append(drop, other)
			}
		}
		mp, err := NewMapper(sc, ds, Mapping{Drop: drop}, "t.parquet")
		if err != nil {
			t.Fatal(err)
		}
		_, err = mp.Map(Batch{Record: rec, FirstRow: 1})
		e := asError(t, err)
		if e.Column != col || !strings.Contains(e.Error(), "--round-floats") {
			t.Errorf("%s: %v", col, err)
		}
	}
	out, _ := mapRecord(t, rec, ds, Mapping{}, WithRoundFloats())
	defer out.Release()
	price := out.Column(out.Schema().FieldIndices("price")[0]).(*array.Float64)
	big := out.Column(out.Schema().FieldIndices("big")[0]).(*array.Float64)
	prices := out.Column(out.Schema().FieldIndices("prices")[0]).(*array.List).ListValues().(*array.Float64)
	if price.Value(0) != 1.5 || price.Value(1) != 19.99 || big.Value(1) != 0x1p53 || prices.Value(0) != 19.99 {
		t.Fatalf("rounded: %v %v %v", price, big, prices)
	}
}

// TestCanonicalNaN: every NaN maps to one bit pattern, whatever the source
// (Go's math.NaN, a negative or float32 NaN, text), in scalars and arrays,
// so that the same row has the same bytes and ID from any file format.
func TestCanonicalNaN(t *testing.T) {
	mem := memory.NewGoAllocator()
	nans := []float64{math.NaN(), math.Float64frombits(0xfff8000000000000), math.Float64frombits(0x7ff0000000000001), math.Float64frombits(canonicalNaN), 1.5}
	fb := array.NewFloat64Builder(mem)
	fb.AppendValues(nans, nil)
	f32 := array.NewFloat32Builder(mem)
	f32.AppendValues([]float32{float32(math.NaN()), math.Float32frombits(0xffc00001)}, nil)
	lb := array.NewListBuilder(mem, arrow.PrimitiveTypes.Float64)
	lb.Append(true)
	lb.ValueBuilder().(*array.Float64Builder).AppendValues(nans, nil)
	cases := []struct {
		src arrow.Array
		f   schema.Field
	}{
		{fb.NewArray(), field("x", schema.Float64)},
		{f32.NewArray(), field("x", schema.Float64)},
		{stringArray(mem, "NaN", "nan", "NAN"), field("x", schema.Float64)},
		{lb.NewArray(), arrayField("x", schema.Float64)},
		{stringArray(mem, "[NaN, 1]"), arrayField("x", schema.Float64)},
	}
	for _, c := range cases {
		out, _, err := convertArray(t, mem, c.src, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.src.DataType(), err)
		}
		vals := out
		if l, ok := out.(*array.List); ok {
			vals = l.ListValues()
		}
		for i, v := range vals.(*array.Float64).Float64Values() {
			if v != v && math.Float64bits(v) != canonicalNaN {
				t.Errorf("%s value %d: NaN bits %#x", c.src.DataType(), i, math.Float64bits(v))
			}
		}
		out.Release()
	}
	// A column whose NaNs are canonical already passes through untouched.
	clean := array.NewFloat64Builder(mem)
	clean.AppendValues([]float64{math.Float64frombits(canonicalNaN), 2}, nil)
	src := clean.NewArray()
	if sameFloat64(src, arrow.PrimitiveTypes.Float64) != src {
		t.Error("a canonical column was copied")
	}
}
