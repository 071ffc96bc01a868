package ingest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestSniffBinaryFormats(t *testing.T) {
	for _, tc := range []struct {
		head string
		want Format
	}{
		{"PAR1\x15\x00\x15\x00", FormatParquet},
		{"PARE\x15\x00\x15\x00", FormatParquet},
		{"ARROW1\x00\x00", FormatArrowFile},
		{"\xff\xff\xff\xff\x10\x00\x00\x00", FormatArrowStream},
		{"\x7c\x07\x00\x00\x10\x00\x00\x00", FormatArrowStream}, // pre-0.15 stream framing
		{"FEA1\x00\x00\x00\x00", FormatFeatherV1},
		{"\x05\x05\x01\xff\xff\xff\xff ", FormatBinary},
		{"time,value", FormatCSV},
		{" \n5000-02", FormatCSV},
		{"\xef\xbb\xbftime", FormatCSV},
	} {
		if got := Sniff([]byte(tc.head)); got != tc.want {
			t.Errorf("Sniff(%q) = %v, want %v", tc.head, got, tc.want)
		}
	}
	for tail, want := range map[string]Format{"xxxxPAR1": FormatParquet, "xxARROW1": FormatArrowFile, "xxxxFEA1": FormatFeatherV1} {
		if got, ok := sniffTail([]byte(tail)); !ok || got != want {
			t.Errorf("sniffTail(%q) = %v", tail, got)
		}
	}
}

func TestJudgeCRS(t *testing.T) {
	for _, tc := range []struct {
		crs    string // JSON
		name   string
		lonLat bool
	}{
		{`"OGC:CRS84"`, "OGC:CRS84", true},
		{`"EPSG:4326"`, "EPSG:4326", true},
		{`"epsg:4326"`, "EPSG:4326", true},
		{`"srid:4326"`, "EPSG:4326", true},
		{`"urn:ogc:def:crs:OGC:1.3:CRS84"`, "OGC:CRS84", true},
		{`"http://www.opengis.net/def/crs/EPSG/0/4326"`, "EPSG:4326", true},
		{`null`, "unknown", true},
		{`{"type": "GeographicCRS", "name": "WGS 84", "id": {"authority": "EPSG", "code": 4326}}`, "EPSG:4326", true},
		{`{"type": "GeographicCRS", "name": "WGS 84 (CRS84)", "ids": [{"authority": "OGC", "code": "CRS84"}]}`, "OGC:CRS84", true},
		{`{"type": "GeographicCRS", "name": "WGS 84", "datum_ensemble": {"name": "World Geodetic System 1984 ensemble"}}`, "WGS 84", true},
		{`"{\"type\": \"GeographicCRS\", \"name\": \"WGS 84\", \"id\": {\"authority\": \"EPSG\", \"code\": 4326}}"`, "EPSG:4326", true},
		{`"GEOGCRS[\"WGS 84\",DATUM[\"World Geodetic System 1984\",ELLIPSOID[\"WGS 84\",6378137,298.257223563]],CS[ellipsoidal,2],ID[\"EPSG\",4326]]"`, "EPSG:4326", true},
		{`"GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,AUTHORITY[\"EPSG\",\"7030\"]]],AUTHORITY[\"EPSG\",\"4326\"]]"`, "EPSG:4326", true},
		{`"PROJCRS[\"WGS 84 / UTM zone 18N\",BASEGEOGCRS[\"WGS 84\",ID[\"EPSG\",4326]],ID[\"EPSG\",32618]]"`, "WGS 84 / UTM zone 18N (EPSG:32618)", false},
		{`"EPSG:3857"`, "EPSG:3857", false},
		{`"srid:5070"`, "srid:5070", false},
		{`{"type": "GeographicCRS", "name": "NAD83", "id": {"authority": "EPSG", "code": 4269}}`, "NAD83 (EPSG:4269)", false},
		{`{"type": "ProjectedCRS", "name": "WGS 84 / Pseudo-Mercator", "id": {"authority": "EPSG", "code": 3857}}`, "WGS 84 / Pseudo-Mercator (EPSG:3857)", false},
		{`"projjson:missing"`, "projjson:missing", false},
		{`42`, "invalid", false},
	} {
		name, ok, why := judgeCRS(json.RawMessage(tc.crs), nil)
		if name != tc.name || ok != tc.lonLat {
			t.Errorf("%s: %q %v (%s), want %q %v", tc.crs, name, ok, why, tc.name, tc.lonLat)
		}
		if !ok && name != "invalid" && !strings.Contains(why, name) {
			t.Errorf("%s: the reason %q does not name the CRS", tc.crs, why)
		}
	}
	lookup := func(k string) (string, bool) {
		if k == "crs1" {
			return `{"type": "ProjectedCRS", "name": "NAD83 / Conus Albers", "id": {"authority": "EPSG", "code": 5070}}`, true
		}
		return "", false
	}
	if name, ok, _ := judgeCRS(json.RawMessage(`"projjson:crs1"`), lookup); ok || name != "NAD83 / Conus Albers (EPSG:5070)" {
		t.Errorf("projjson reference: %q %v", name, ok)
	}
}

// TestMemoryLimits: limits fail reads with errors naming the file and the
// limit, never a panic or an exhausted process.
func TestMemoryLimits(t *testing.T) {
	dir := corpusDir(t)
	path := filepath.Join(dir, "parquet", "overflow_i16_page_cnt.parquet")
	res := readColumnar(path, WithMemoryLimit(1<<10))
	if res.panicked != nil {
		t.Fatal(res.panicked)
	}
	if !errors.Is(res.err, ErrMemoryLimit) {
		t.Fatalf("want ErrMemoryLimit, got %v", res.err)
	}
	wantErr(t, res.err, "overflow_i16_page_cnt.parquet", "WithMemoryLimit")

	res = readColumnar(filepath.Join(dir, "parquet", "limits", "large_string_map.brotli.parquet"))
	wantErr(t, res.err, "large_string_map.brotli.parquet", "exceeds configured limit")
	res = readColumnar(filepath.Join(dir, "parquet", "alltypes_tiny_pages.parquet"), WithMaxPageBytes(100))
	wantErr(t, res.err, "alltypes_tiny_pages.parquet", "limit")

	// Arrow IPC: the message limits, and the memory limit.
	res = readColumnar(filepath.Join(dir, "arrow-stream", "geoarrow", "natural-earth_countries_wkb.arrows"), WithMaxMessageBytes(0, 1000))
	wantErr(t, res.err, "natural-earth_countries_wkb.arrows", "exceeds the limit of 1000")
	res = readColumnar(filepath.Join(dir, "arrow-stream", "geoarrow", "natural-earth_countries_wkb.arrows"), WithMemoryLimit(10000))
	if !errors.Is(res.err, ErrMemoryLimit) {
		t.Errorf("want ErrMemoryLimit, got %v", res.err)
	}
	res = readColumnar(filepath.Join(dir, "feather", "cpp-21.0.0", "generated_primitive.arrow_file"), WithMaxMessageBytes(0, 100))
	wantErr(t, res.err, "generated_primitive.arrow_file", "limit")

	// A stream that announces a body larger than the file.
	p := filepath.Join(t.TempDir(), "big.arrows")
	src, _ := os.ReadFile(filepath.Join(dir, "arrow-stream", "cpp-21.0.0", "generated_primitive.stream"))
	if err := os.WriteFile(p, src[:len(src)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	res = readColumnar(p)
	wantErr(t, res.err, "big.arrows", "truncated")
}

// TestSourceInterfaces: the binary sources stream once, close twice and
// describe their geometry.
func TestSourceInterfaces(t *testing.T) {
	dir := corpusDir(t)
	for _, rel := range []string{
		"geoparquet/natural-earth_cities_geo.parquet",
		"arrow-stream/geoarrow/natural-earth_cities.arrows",
		"feather/duckdb-spatial_geoarrow-wkb.arrow",
	} {
		mem := checkedMem(t)
		src, err := Open(filepath.Join(dir, rel), WithAllocator(mem), WithBatchSize(50))
		if err != nil {
			t.Fatal(err)
		}
		if g := src.(GeoSource).GeoInfo(); g == nil || g.Primary() == nil {
			t.Errorf("%s: no geometry", rel)
		}
		var first []int64
		for b, err := range src.Batches() {
			if err != nil {
				t.Fatal(err)
			}
			if !b.Record.Schema().Equal(src.Schema()) {
				t.Errorf("%s: batch schema differs from the source's", rel)
			}
			first = append(first, b.FirstRow)
		}
		if len(first) == 0 || first[0] != 1 {
			t.Errorf("%s: first rows %v", rel, first)
		}
		for _, err := range src.Batches() {
			wantErr(t, err, "already read")
		}
		if err := src.Close(); err != nil {
			t.Error(err)
		}
		if err := src.Close(); err != nil {
			t.Error(err)
		}
		// Stopping early releases everything too.
		src, err = Open(filepath.Join(dir, rel), WithAllocator(mem), WithBatchSize(50))
		if err != nil {
			t.Fatal(err)
		}
		for range src.Batches() {
			break
		}
		src.Close()
	}
	// The GeoArrow metadata travels on the source schema's fields.
	src, err := Open(filepath.Join(dir, "geoparquet", "gpq_example-v1.0.0.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, _ := src.Schema().FieldsByName("geometry")
	if name, _, ok := geoArrowField(f[0]); !ok || name != "geoarrow.wkb" {
		t.Errorf("geometry field: %v", f[0])
	}
	if _, ok := src.Schema().Metadata().GetValue(geoKey); !ok {
		t.Error("the source schema lacks the geo metadata")
	}
}

// TestValidateStringOffsets checks the structural check that replaces
// ValidateFull for strings: offsets that decrease or start below zero are
// refused, invalid UTF-8 is left to the mapper.
func TestValidateStringOffsets(t *testing.T) {
	mk := func(offs []int32, data string) arrow.Array {
		d := array.NewData(arrow.BinaryTypes.String, len(offs)-1,
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offs)), memory.NewBufferBytes([]byte(data))}, nil, 0, 0)
		defer d.Release()
		return array.MakeFromData(d)
	}
	for _, tc := range []struct {
		offs []int32
		data string
		err  string
	}{
		{offs: []int32{0, 2, 4}, data: "abcd"},
		{offs: []int32{0, 2, 4}, data: "\xff\xfe\xfd\xfc"}, // not UTF-8: the mapper's job
		{offs: []int32{0, 3, 2, 4}, data: "abcd", err: "offsets decrease at value 2"},
		{offs: []int32{-1, 2, 4}, data: "abcd", err: "negative"},
	} {
		a := mk(tc.offs, tc.data)
		err := validateArray(a)
		a.Release()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("offsets %v: got %v, want %q", tc.offs, err, tc.err)
		}
	}
	// 64-bit offsets whose decreasing step overflows int64 arithmetic.
	offs := []int64{0, 1<<62 + 1, -1 << 62, 5}
	if err := monotonic(offs); err == nil || !strings.Contains(err.Error(), "offsets decrease at value 2") {
		t.Errorf("overflowing int64 offsets: got %v", err)
	}
}
