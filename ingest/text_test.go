package ingest

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/ewkb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/granaryhq/granary/schema"
)

func wkbHex(g orb.Geometry) string {
	b, err := wkb.Marshal(g, binary.LittleEndian)
	if err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func ewkbHex(g orb.Geometry, srid int, bo binary.ByteOrder) string {
	b, err := ewkb.Marshal(g, srid, bo)
	if err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func bigEndianWKBHex(g orb.Geometry) string {
	b, err := wkb.Marshal(g, binary.BigEndian)
	if err != nil {
		panic(err)
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

type textCase struct {
	in   string
	want string // rendered canonical value; "" when an error is expected
	err  string // substring of the error
}

// TestTextConversions parses cells as every field type: accepted
// spellings render to the canonical value, rejected ones name the reason.
func TestTextConversions(t *testing.T) {
	point := orb.Point{30, 10}
	cases := map[schema.Field][]textCase{
		field("s", schema.String): {
			{in: "hello", want: "hello"},
			{in: " padded ", want: " padded "},
			{in: "Zürich 🛰", want: "Zürich 🛰"},
			{in: "", want: ""},
			{in: "bad \xff utf8", err: "UTF-8"},
		},
		field("i", schema.Int64): {
			{in: "0", want: "0"},
			{in: "-9223372036854775808", want: "-9223372036854775808"},
			{in: "9223372036854775807", want: "9223372036854775807"},
			{in: " 42 ", want: "42"},
			{in: "+7", want: "7"},
			{in: "", want: "<null>"},
			{in: "   ", want: "<null>"},
			{in: "9223372036854775808", err: "out of range for int64"},
			{in: "-9223372036854775809", err: "out of range"},
			{in: "twelve", err: "not an integer"},
			{in: "5.0", err: "decimal point"},
			{in: "1e3", err: "not an integer"},
			{in: "0x10", err: "not an integer"},
			{in: "1_000", err: "not an integer"},
		},
		field("u", schema.Uint64): {
			{in: "18446744073709551615", want: "18446744073709551615"},
			{in: "9223372036854775808", want: "9223372036854775808"},
			{in: "0", want: "0"},
			{in: "-1", err: "negative"},
			{in: "18446744073709551616", err: "out of range for uint64"},
			{in: "1.5", err: "not an integer"},
		},
		field("f", schema.Float64): {
			{in: "1.5", want: "1.5"},
			{in: "-0.0", want: "-0"},
			{in: "5e-324", want: "5e-324"},
			{in: "1.7976931348623157e308", want: "1.7976931348623157e+308"},
			{in: "NaN", want: "NaN"},
			{in: "nan", want: "NaN"},
			{in: "Inf", want: "+Inf"},
			{in: "-Infinity", want: "-Inf"},
			{in: "+infinity", want: "+Inf"},
			{in: "1e3", want: "1000"},
			{in: " 2.5\t", want: "2.5"},
			{in: "1e400", err: "out of range"},
			{in: "abc", err: "not a number"},
			{in: "52,520008", err: "decimal comma"},
			{in: "1.2.3", err: "not a number"},
		},
		field("b", schema.Bool): {
			{in: "true", want: "true"},
			{in: "FALSE", want: "false"},
			{in: "True", want: "true"},
			{in: "yes", want: "true"},
			{in: "No", want: "false"},
			{in: "1", want: "true"},
			{in: "0", want: "false"},
			{in: "t", err: "true/false"},
			{in: "maybe", err: "true/false"},
			{in: "2", err: "true/false"},
			{in: "on", err: "true/false"},
		},
		field("by", schema.Bytes): {
			{in: "aGVsbG8=", want: hex.EncodeToString([]byte("hello"))},
			{in: "aGVsbG8", want: hex.EncodeToString([]byte("hello"))},
			{in: "AA==", want: "00"},
			{in: "/w==", want: "ff"},
			{in: "_w==", want: "ff"},
			{in: "0x68656C6c6f", want: hex.EncodeToString([]byte("hello"))},
			{in: "0x", want: ""},
			{in: "0xzz", err: "hex"},
			{in: "0x123", err: "hex"},
			{in: "not base64!", err: "base64"},
		},
		field("ts", schema.Timestamp): {
			{in: "2024-01-02", want: "2024-01-02T00:00:00Z"},
			{in: "2024-01-02T03:04:05Z", want: "2024-01-02T03:04:05Z"},
			{in: "2024-01-02T03:04:05.123456789Z", want: "2024-01-02T03:04:05.123456789Z"},
			{in: "2024-01-02T03:04:05.5Z", want: "2024-01-02T03:04:05.5Z"},
			{in: "2024-01-02T03:04:05,25Z", want: "2024-01-02T03:04:05.25Z"},
			{in: "2024-03-01T05:29:59.999999999+05:30", want: "2024-02-29T23:59:59.999999999Z"},
			{in: "2024-02-29T15:59:59-08:00", want: "2024-02-29T23:59:59Z"},
			{in: "2024-02-29T15:59:59-0800", want: "2024-02-29T23:59:59Z"},
			{in: "2024-02-29T15:59:59-08", want: "2024-02-29T23:59:59Z"},
			{in: "2024-02-29T23:59:59+00:00", want: "2024-02-29T23:59:59Z"},
			{in: "2024-01-02 03:04:05", want: "2024-01-02T03:04:05Z"},
			{in: "2024-01-02T03:04:05", want: "2024-01-02T03:04:05Z"},
			{in: "2023-01-01 11:07:13.123", want: "2023-01-01T11:07:13.123Z"},
			{in: "2024-02-29 23:59:59.5Z", want: "2024-02-29T23:59:59.5Z"},
			{in: "2024-02-29t23:59:59z", want: "2024-02-29T23:59:59Z"},
			{in: "2024-01-02T03:04Z", want: "2024-01-02T03:04:00Z"},
			{in: "1969-12-31T23:59:59.999999999Z", want: "1969-12-31T23:59:59.999999999Z"},
			{in: "2262-04-11T23:47:16.854775807Z", want: "2262-04-11T23:47:16.854775807Z"},
			{in: "1677-09-21T00:12:43.145224192Z", want: "1677-09-21T00:12:43.145224192Z"},
			{in: "1709251199000", err: "ambiguous"},
			{in: "1709251199", err: "ambiguous"},
			{in: "2024-13-01T00:00:00Z", err: "month out of range"},
			{in: "2023-02-29", err: "day out of range"},
			{in: "2024-01-02T24:00:00Z", err: "hour out of range"},
			{in: "2016-12-31T23:59:60Z", err: "leap second"},
			{in: "2262-04-11T23:47:16.854775808Z", err: "out of range"},
			{in: "1677-09-21T00:12:43.145224191Z", err: "out of range"},
			{in: "2024-01-02T03:04:05.1234567891Z", err: "9 fractional digits"},
			{in: "2024-01-02T03:04:05+24:00", err: "offset"},
			{in: "2024/01/02", err: "ISO 8601"},
			{in: "yesterday", err: "ISO 8601"},
			{in: "2024-01-02T03:04:05Zjunk", err: "ISO 8601"},
			{in: "2024-01-02T03:04:05.Z", err: "ISO 8601"},
			{in: "24-01-02", err: "ISO 8601"},
		},
		field("d", schema.Duration): {
			{in: "1h2m3.5s", want: "1h2m3.5s"},
			{in: "-90m", want: "-1h30m0s"},
			{in: "0", want: "0s"},
			{in: "1us", want: "1µs"},
			{in: "1µs", want: "1µs"},
			{in: "1ns", want: "1ns"},
			{in: "2562047h47m16.854775807s", want: "2562047h47m16.854775807s"},
			{in: "PT1H30M", want: "1h30m0s"},
			{in: "P1D", want: "24h0m0s"},
			{in: "P1DT2H", want: "26h0m0s"},
			{in: "P2W", want: "336h0m0s"},
			{in: "PT0.5S", want: "500ms"},
			{in: "PT1,5S", want: "1.5s"},
			{in: "-PT1S", want: "-1s"},
			{in: "pt1m", want: "1m0s"},
			{in: "PT0.000000001S", want: "1ns"},
			{in: "1d", err: "unknown unit"},
			{in: "5", err: "missing unit"},
			{in: "2562048h", err: "Go duration"},
			{in: "P1Y", err: "years and months"},
			{in: "P1M", err: "years and months"},
			{in: "P", err: "ISO 8601"},
			{in: "PT", err: "ISO 8601"},
			{in: "P1H", err: "ISO 8601"},
			{in: "PT1D", err: "ISO 8601"},
			{in: "PT1S1M", err: "ISO 8601"},
			{in: "PT0.0000000001S", err: "nanosecond"},
			{in: "P300000D", err: "out of range"},
		},
		field("id_", schema.UUID): {
			{in: "123e4567-e89b-12d3-a456-426614174000", want: "123e4567-e89b-12d3-a456-426614174000"},
			{in: "123E4567-E89B-12D3-A456-426614174000", want: "123e4567-e89b-12d3-a456-426614174000"},
			{in: "{123e4567-e89b-12d3-a456-426614174000}", want: "123e4567-e89b-12d3-a456-426614174000"},
			{in: "urn:uuid:123e4567-e89b-12d3-a456-426614174000", want: "123e4567-e89b-12d3-a456-426614174000"},
			{in: "123e4567e89b12d3a456426614174000", want: "123e4567-e89b-12d3-a456-426614174000"},
			{in: "00000000-0000-0000-0000-000000000000", want: "00000000-0000-0000-0000-000000000000"},
			{in: "123e4567", err: "UUID"},
			{in: "zzze4567-e89b-12d3-a456-426614174000", err: "UUID"},
		},
		field("geometry", schema.Geometry): {
			{in: "POINT (30 10)", want: wkbHex(point)},
			{in: "POLYGON ((30 10, 40 40, 20 40, 10 20, 30 10))", want: wkbHex(orb.Polygon{{{30, 10}, {40, 40}, {20, 40}, {10, 20}, {30, 10}}})},
			{in: bigEndianWKBHex(point), want: wkbHex(point)},
			{in: ewkbHex(point, 4326, binary.BigEndian), want: wkbHex(point)},
			{in: `{"type": "Point", "coordinates": [30, 10]}`, want: wkbHex(point)},
			{in: `{"type":"LineString","coordinates":[[0,0],[1,1]]}`, want: wkbHex(orb.LineString{{0, 0}, {1, 1}})},
			{in: ewkbHex(point, 3857, binary.LittleEndian), err: "SRID 3857"},
			{in: "POLYGON ((0 0, 1 0, 1 1, 0 0", err: "parse wkt"},
			{in: "CIRCLE (1 2)", err: "parse wkt"},
			{in: "POINT Z (1 2 3)", err: "parse wkt"},
			{in: `{"type":"Circle","coordinates":[1, 2]}`, err: "geojson"},
			{in: `{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[30,10]}}`, want: wkbHex(point)},
			{in: "SRID=4326;POINT (30 10)", want: wkbHex(point)},
		},
		field("v", schema.Vec3): {
			{in: "[1, 2, 3]", want: "(1 2 3)"},
			{in: "1 2 3", want: "(1 2 3)"},
			{in: "1,2,3", want: "(1 2 3)"},
			{in: "[-0.5,NaN, 1e3]", want: "(-0.5 NaN 1000)"},
			{in: `{"x": 1, "y": 2, "z": 3}`, want: "(1 2 3)"},
			{in: "[1, 2]", err: "want 3 numbers (x, y, z)"},
			{in: "[1, 2, 3, 4]", err: "want 3 numbers"},
			{in: "[1, 2, 3", err: "want 3 numbers"},
			{in: "[a, b, c]", err: "x: not a number"},
			{in: `{"x": 1, "y": 2}`, err: `member "z" is missing`},
			{in: `{"x": 1, "y": 2, "z": 3, "w": 4}`, err: "unknown members"},
		},
		field("q", schema.Quaternion): {
			{in: "[0, 0, 0, 1]", want: "(0 0 0 1)"},
			{in: "[0, 0, 1]", err: "want 4 numbers (q1, q2, q3, q4)"},
		},
		field("ll", schema.LatLon): {
			{in: "[52.52, 13.405]", want: "(52.52 13.405)"},
			{in: `{"latitude": 52.52, "longitude": 13.405}`, want: "(52.52 13.405)"},
		},
		field("lla", schema.LatLonAlt): {
			{in: "52.52 13.405 34", want: "(52.52 13.405 34)"},
		},
		arrayField("fa", schema.Float64): {
			{in: "[-12.15, 13.45]", want: "[-12.15, 13.45]"},
			{in: "[]", want: "[]"},
			{in: " [ ] ", want: "[]"},
			{in: "[ 1.5 ,2.5 ]", want: "[1.5, 2.5]"},
			{in: "[NaN, Infinity, -Infinity]", want: "[NaN, +Inf, -Inf]"},
			{in: `["1.5"]`, want: "[1.5]"},
			{in: "null", want: "<null>"},
			{in: "[1.0, 2.0", err: "unterminated array"},
			{in: "[1,,2]", err: "element 2 is empty"},
			{in: "[1,2,]", err: "trailing comma"},
			{in: "1, 2", err: "array literal"},
			{in: "[1] x", err: "after ]"},
			{in: "[1, x]", err: "element 2: not a number"},
		},
		arrayField("ia", schema.Int64): {
			{in: "[1, 2, 3]", want: "[1, 2, 3]"},
			{in: "[1, null, 3]", want: "[1, 3]"},
			{in: "[9223372036854775807]", want: "[9223372036854775807]"},
			{in: "[9223372036854775808]", err: "element 1: out of range"},
		},
		arrayField("sa", schema.String): {
			{in: `["a", "b"]`, want: "[a, b]"},
			{in: `["comma, inside", "quote \" and \u00e9"]`, want: `[comma, inside, quote " and é]`},
			{in: `[]`, want: "[]"},
			{in: `["unterminated]`, err: "unterminated string"},
			{in: `[a, b]`, err: "JSON strings"},
		},
		arrayField("ta", schema.Timestamp): {
			{in: `["2024-01-01T00:00:00Z", "2024-01-02"]`, want: "[2024-01-01T00:00:00Z, 2024-01-02T00:00:00Z]"},
			{in: `[2024-01-01T00:00:00Z]`, want: "[2024-01-01T00:00:00Z]"},
			{in: `["2024-13-01"]`, err: "element 1: month out of range"},
		},
		arrayField("va", schema.Vec3): {
			{in: "[[1,2,3], [4, 5, 6]]", want: "[(1 2 3), (4 5 6)]"},
			{in: "[[1,2,3], [4, 5]]", err: "element 2: want 3 numbers"},
		},
		arrayField("ga", schema.Geometry): {
			{in: `["POINT (30 10)", {"type":"Point","coordinates":[30,10]}]`, want: "[" + wkbHex(point) + ", " + wkbHex(point) + "]"},
		},
		arrayField("ua", schema.UUID): {
			{in: `["123e4567-e89b-12d3-a456-426614174000"]`, want: "[123e4567-e89b-12d3-a456-426614174000]"},
		},
		arrayField("ba", schema.Bool): {
			{in: `[true, no, 1]`, want: "[true, false, true]"},
		},
		arrayField("da", schema.Duration): {
			{in: `["1s", "PT1M"]`, want: "[1s, 1m0s]"},
		},
	}
	for f, tcs := range cases {
		for _, tc := range tcs {
			t.Run(f.TypeString()+"/"+tc.in, func(t *testing.T) {
				mem := checkedMem(t)
				src := stringArray(mem, tc.in)
				defer src.Release()
				got, _, err := convertArray(t, mem, src, f)
				if tc.err != "" {
					wantErr(t, err, tc.err)
					if got != nil {
						got.Release()
					}
					return
				}
				if err != nil {
					t.Fatalf("%q: %v", tc.in, err)
				}
				defer got.Release()
				if r := render(got, 0); r != tc.want {
					t.Errorf("%q → %s, want %s", tc.in, r, tc.want)
				}
			})
		}
	}
}

// A null or blank cell is null for every type but string, where a blank
// string is a value.
func TestTextNulls(t *testing.T) {
	for _, typ := range schema.Types() {
		for _, arr := range []bool{false, true} {
			f := schema.Field{Name: "x", Type: typ, Array: arr}
			mem := checkedMem(t)
			src := stringArray(mem, null, "  ")
			got, _, err := convertArray(t, mem, src, f)
			src.Release()
			if err != nil {
				t.Fatalf("%s: %v", f.TypeString(), err)
			}
			want := []string{"<null>", "<null>"}
			if typ == schema.String && !arr {
				want[1] = "  "
			}
			if r := renderAll(got); strings.Join(r, "|") != strings.Join(want, "|") {
				t.Errorf("%s: got %q, want %q", f.TypeString(), r, want)
			}
			got.Release()
		}
	}
}

func TestSplitArrayCountsNulls(t *testing.T) {
	mem := checkedMem(t)
	src := stringArray(mem, "[1, null, 3]", "[null]", "[]")
	defer src.Release()
	got, st, err := convertArray(t, mem, src, arrayField("x", schema.Float64))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if r := strings.Join(renderAll(got), "|"); r != "[1, 3]|[]|[]" {
		t.Errorf("got %s", r)
	}
	if st.NullElements != 2 {
		t.Errorf("NullElements = %d, want 2", st.NullElements)
	}
}

func pointXY(x, y float64) orb.Point { return orb.Point{x, y} }
