package geo

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/ewkb"
	"github.com/paulmach/orb/encoding/wkb"
)

var square = orb.Polygon{{{170, 40}, {190, 40}, {190, 50}, {170, 50}, {170, 40}}}

func mustBytes(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// withSRID0 is EWKB that carries the SRID flag with SRID 0, which orb's
// encoder never writes but PostGIS clients may.
func withSRID0(order binary.ByteOrder) []byte {
	b := mustBytes(ewkb.Marshal(square, 4326, order))
	order.PutUint32(b[5:9], 0)
	return b
}

func withZFlag() []byte {
	b := mustBytes(ewkb.Marshal(square, 4326, binary.LittleEndian))
	t := binary.LittleEndian.Uint32(b[1:5])
	binary.LittleEndian.PutUint32(b[1:5], t|0x80000000)
	return b
}

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		in      []byte
		want    orb.Geometry
		wantErr string
	}{
		{"wkb little-endian", mustBytes(wkb.Marshal(square, binary.LittleEndian)), square, ""},
		{"wkb big-endian", mustBytes(wkb.Marshal(square, binary.BigEndian)), square, ""},
		{"ewkb little-endian srid 4326", mustBytes(ewkb.Marshal(square, 4326, binary.LittleEndian)), square, ""},
		{"ewkb big-endian srid 4326", mustBytes(ewkb.Marshal(square, 4326, binary.BigEndian)), square, ""},
		{"ewkb little-endian srid 0", withSRID0(binary.LittleEndian), square, ""},
		{"ewkb big-endian srid 0", withSRID0(binary.BigEndian), square, ""},
		{"ewkb srid 3857", mustBytes(ewkb.Marshal(square, 3857, binary.LittleEndian)), nil, "SRID 3857"},
		{"ewkb big-endian srid 3857", mustBytes(ewkb.Marshal(square, 3857, binary.BigEndian)), nil, "SRID 3857"},
		{"ewkb with Z", withZFlag(), nil, "Z/M"},
		{"hex ewkb", []byte(hex.EncodeToString(mustBytes(ewkb.Marshal(square, 4326, binary.BigEndian)))), square, ""},
		{"truncated wkb", mustBytes(wkb.Marshal(square, binary.LittleEndian))[:20], nil, "wkb"},
		{"wkt", []byte("POLYGON ((170 40, 190 40, 190 50, 170 50, 170 40))"), square, ""},
		{"wkt lower case, padded", []byte("  point(1 2)\n"), orb.Point{1, 2}, ""},
		{"ewkt 4326", []byte("SRID=4326;POINT(1 2)"), orb.Point{1, 2}, ""},
		{"ewkt 3857", []byte("SRID=3857;POINT(1 2)"), nil, "SRID 3857"},
		{"wkt garbage", []byte("CIRCLE(1 2)"), nil, "parse wkt"},
		{"geojson geometry", []byte(`{"type":"Point","coordinates":[1,2]}`), orb.Point{1, 2}, ""},
		{"geojson feature", []byte(`{"type":"Feature","properties":{"a":1},"geometry":{"type":"Polygon","coordinates":[[[170,40],[190,40],[190,50],[170,50],[170,40]]]}}`), square, ""},
		{"geojson feature collection", []byte(`{"type":"FeatureCollection","features":[
			{"type":"Feature","properties":null,"geometry":{"type":"Point","coordinates":[1,2]}},
			{"type":"Feature","properties":null,"geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]}}]}`),
			orb.Collection{orb.Point{1, 2}, orb.LineString{{0, 0}, {1, 1}}}, ""},
		{"geojson null geometry", []byte(`{"type":"Feature","properties":{},"geometry":null}`), nil, "no geometry"},
		{"geojson no type", []byte(`{"coordinates":[1,2]}`), nil, "no \"type\""},
		{"geojson broken", []byte(`{"type":"Point","coordinates":[1,`), nil, "geojson"},
		{"empty", nil, nil, "empty input"},
		{"blank", []byte("  \n"), nil, "blank input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !orb.Equal(got, c.want) {
				t.Fatalf("got %s, want %s", WKT(got), WKT(c.want))
			}
		})
	}
}

func TestParseNullGeometryIsErrNoGeometry(t *testing.T) {
	_, err := ParseGeoJSON([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":null}]}`))
	if !errors.Is(err, ErrNoGeometry) || !strings.Contains(err.Error(), "feature 0") {
		t.Fatalf("err = %v, want ErrNoGeometry naming feature 0", err)
	}
}

func TestMarshalWKBRoundTrip(t *testing.T) {
	for _, g := range []orb.Geometry{
		orb.Point{1, 2},
		orb.LineString{{0, 0}, {1, 1}},
		square,
		orb.MultiPolygon{square, square},
		orb.Collection{orb.Point{1, 2}, square},
	} {
		b, err := MarshalWKB(g)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != 1 {
			t.Errorf("%T: byte order %d, want 1 (little-endian)", g, b[0])
		}
		if typ := binary.LittleEndian.Uint32(b[1:5]); typ&0x20000000 != 0 {
			t.Errorf("%T: SRID flag set, want plain ISO WKB", g)
		}
		back, err := ParseWKB(b)
		if err != nil {
			t.Fatal(err)
		}
		if !orb.Equal(back, g) {
			t.Errorf("round trip: got %s, want %s", WKT(back), WKT(g))
		}
	}
	if _, err := MarshalWKB(nil); err == nil {
		t.Error("MarshalWKB(nil): want error")
	}
}

func TestWKT(t *testing.T) {
	if got := WKT(orb.Point{1, 2}); got != "POINT(1 2)" {
		t.Errorf("got %q", got)
	}
	g, err := ParseWKT(WKT(square))
	if err != nil || !orb.Equal(g, square) {
		t.Errorf("round trip: %v %v", g, err)
	}
}
