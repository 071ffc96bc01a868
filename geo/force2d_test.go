package geo

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/paulmach/orb"
)

// wkbBuilder writes WKB by hand, in either byte order, with any type code
// and any number of ordinates per position (independently of Force2D).
type wkbBuilder struct {
	order interface {
		binary.ByteOrder
		binary.AppendByteOrder
	}
	b []byte
}

func (w *wkbBuilder) header(typ uint32) *wkbBuilder {
	if w.order == binary.BigEndian {
		w.b = append(w.b, 0)
	} else {
		w.b = append(w.b, 1)
	}
	w.b = w.order.AppendUint32(w.b, typ)
	return w
}

func (w *wkbBuilder) u32(v uint32) *wkbBuilder { w.b = w.order.AppendUint32(w.b, v); return w }

func (w *wkbBuilder) pos(vals ...float64) *wkbBuilder {
	for _, v := range vals {
		w.b = w.order.AppendUint64(w.b, math.Float64bits(v))
	}
	return w
}

func le() *wkbBuilder { return &wkbBuilder{order: binary.LittleEndian} }
func be() *wkbBuilder { return &wkbBuilder{order: binary.BigEndian} }

func TestForce2DWKB(t *testing.T) {
	square := orb.Polygon{{{0, 0}, {1, 0}, {1, 1}, {0, 0}}}
	cases := []struct {
		name string
		wkb  []byte
		want orb.Geometry
	}{
		{"ISO point Z", le().header(1001).pos(1, 2, 3).b, orb.Point{1, 2}},
		{"ISO point M big-endian", be().header(2001).pos(1, 2, 9).b, orb.Point{1, 2}},
		{"ISO point ZM", le().header(3001).pos(1, 2, 3, 4).b, orb.Point{1, 2}},
		{"EWKB point Z with SRID 4326", le().header(1|ewkbZFlag|ewkbSRIDFlag).u32(4326).pos(1, 2, 3).b, orb.Point{1, 2}},
		{"EWKB point ZM", be().header(1|ewkbZFlag|ewkbMFlag).pos(1, 2, 3, 4).b, orb.Point{1, 2}},
		{"ISO line string Z", le().header(1002).u32(2).pos(0, 0, 5, 3, 4, 6).b, orb.LineString{{0, 0}, {3, 4}}},
		{"ISO polygon Z", le().header(1003).u32(1).u32(4).pos(0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1).b, square},
		{"EWKB polygon M", be().header(3|ewkbMFlag).u32(1).u32(4).pos(0, 0, 7, 1, 0, 7, 1, 1, 7, 0, 0, 7).b, square},
		{"ISO multipolygon ZM", func() []byte {
			w := le().header(3006).u32(1)
			w.header(3003).u32(1).u32(4).pos(0, 0, 1, 2, 1, 0, 1, 2, 1, 1, 1, 2, 0, 0, 1, 2)
			return w.b
		}(), orb.MultiPolygon{square}},
		{"ISO collection Z", func() []byte {
			w := le().header(1007).u32(2)
			w.header(1001).pos(5, 6, 7)
			w.header(1002).u32(2).pos(0, 0, 0, 1, 1, 1)
			return w.b
		}(), orb.Collection{orb.Point{5, 6}, orb.LineString{{0, 0}, {1, 1}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Parse(c.wkb); !errors.Is(err, ErrNot2D) {
				t.Fatalf("Parse without Force2D: %v, want ErrNot2D", err)
			}
			for _, in := range [][]byte{c.wkb, []byte(hex.EncodeToString(c.wkb))} {
				out, changed, err := Force2D(in)
				if err != nil || !changed {
					t.Fatalf("Force2D: changed %v, err %v", changed, err)
				}
				g, err := Parse(out)
				if err != nil {
					t.Fatal(err)
				}
				if !orb.Equal(g, c.want) {
					t.Fatalf("got %s, want %s", WKT(g), WKT(c.want))
				}
			}
		})
	}

	t.Run("2-D unchanged", func(t *testing.T) {
		var in [][]byte
		for _, g := range []orb.Geometry{orb.Point{1, 2}, square, orb.MultiPolygon{square}} {
			b, _ := MarshalWKB(g)
			in = append(in, b)
		}
		// Big-endian and EWKB with SRID 4326, but 2-D: nothing to drop.
		in = append(in, be().header(6).u32(1).header(3).u32(1).u32(4).pos(0, 0, 1, 0, 1, 1, 0, 0).b,
			le().header(4|ewkbSRIDFlag).u32(4326).u32(1).header(1).pos(1, 2).b)
		for _, b := range in {
			out, changed, err := Force2D(b)
			if err != nil || changed || !bytes.Equal(out, b) {
				t.Errorf("%x: changed %v, err %v", b, changed, err)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		for name, b := range map[string][]byte{
			"SRID 3857":         le().header(1|ewkbZFlag|ewkbSRIDFlag).u32(3857).pos(1, 2, 3).b,
			"truncated":         le().header(1002).u32(3).pos(0, 0, 0).b,
			"absurd count":      le().header(1003).u32(1 << 30).b,
			"bad nested marker": append(le().header(1006).u32(1).b, 7, 0, 0, 0, 0),
			"unknown type":      le().header(1009).pos(1, 2, 3).b,
		} {
			if _, _, err := Force2D(b); err == nil {
				t.Errorf("%s: no error", name)
			}
		}
	})
}

func TestForce2DWKT(t *testing.T) {
	cases := []struct{ in, want string }{
		{"POINT Z (1 2 3)", "POINT(1 2)"},
		{"point zm (1 2 3 4)", "point(1 2)"},
		{"POINT (1 2 3)", "POINT(1 2)"},
		{"POINTZ(1 2 3)", "POINT(1 2)"},
		{"SRID=4326;POINT Z (-1.5e-3 2 3)", "SRID=4326;POINT(-1.5e-3 2)"},
		{"POLYGON M ((0 0 9, 1 0 9, 1 1 9, 0 0 9))", "POLYGON((0 0,1 0,1 1,0 0))"},
		{"MULTIPOINT Z ((1 2 3), (4 5 6))", "MULTIPOINT((1 2),(4 5))"},
		{"MULTIPOINT Z (1 2 3, 4 5 6)", "MULTIPOINT(1 2,4 5)"},
		{"GEOMETRYCOLLECTION Z (POINT Z (1 2 3), LINESTRING Z (0 0 0, 1 1 1))", "GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))"},
		{"POINT Z EMPTY", "POINT EMPTY"},
	}
	for _, c := range cases {
		if _, err := Parse([]byte(c.in)); c.want != "POINT EMPTY" && !errors.Is(err, ErrNot2D) {
			t.Errorf("Parse(%q) without Force2D: %v, want ErrNot2D", c.in, err)
		}
		out, changed, err := Force2D([]byte(c.in))
		if err != nil || !changed || string(out) != c.want {
			t.Errorf("Force2D(%q) = %q, %v, %v; want %q", c.in, out, changed, err, c.want)
			continue
		}
		// orb reads neither POINT EMPTY nor MULTIPOINT without inner
		// parentheses, Z or not.
		if c.want != "POINT EMPTY" && c.want != "MULTIPOINT(1 2,4 5)" {
			if _, err := Parse(out); err != nil {
				t.Errorf("Parse(%q): %v", out, err)
			}
		}
	}
	for _, in := range []string{"POINT (1 2)", "POLYGON ((0 0, 1 0, 1 1, 0 0))", "POINT EMPTY", "LINESTRING(0 0,1 1"} {
		out, changed, err := Force2D([]byte(in))
		if err != nil || changed || string(out) != in {
			t.Errorf("2-D %q: got %q, %v, %v", in, out, changed, err)
		}
	}
}

func TestForce2DGeoJSON(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"type":"Point","coordinates":[1,2,3]}`, "POINT(1 2)"},
		{`{"type":"LineString","bbox":[0,0,0,1,1,1],"coordinates":[[0,0,5],[1,1,6]]}`, "LINESTRING(0 0,1 1)"},
		{`{"type":"Feature","properties":{"a":[1,2,3]},"geometry":{"type":"Polygon","coordinates":[[[0,0,1],[1,0,1],[1,1,1],[0,0,1]]]}}`, "POLYGON((0 0,1 0,1 1,0 0))"},
		{`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2,3,4]}}]}`, "GEOMETRYCOLLECTION(POINT(1 2))"},
		{`{"type":"GeometryCollection","geometries":[{"type":"MultiPoint","coordinates":[[1,2,3],[4,5]]}]}`, "GEOMETRYCOLLECTION(MULTIPOINT((1 2),(4 5)))"},
	}
	for _, c := range cases {
		if _, err := Parse([]byte(c.in)); !errors.Is(err, ErrNot2D) {
			t.Errorf("Parse(%s) without Force2D: %v, want ErrNot2D (orb would drop Z silently)", c.in, err)
		}
		out, changed, err := Force2D([]byte(c.in))
		if err != nil || !changed {
			t.Errorf("Force2D(%s): changed %v, err %v", c.in, changed, err)
			continue
		}
		if strings.Contains(string(out), "bbox") {
			t.Errorf("Force2D(%s) kept the 3-D bbox: %s", c.in, out)
		}
		g, err := Parse(out)
		if err != nil {
			t.Errorf("Parse(%s): %v", out, err)
			continue
		}
		if got := strings.ReplaceAll(WKT(g), ", ", ","); got != c.want {
			t.Errorf("Force2D(%s) parses as %s, want %s", c.in, got, c.want)
		}
	}
	in := `{"type":"Point","coordinates":[1,2]}`
	if out, changed, err := Force2D([]byte(in)); err != nil || changed || string(out) != in {
		t.Errorf("2-D GeoJSON: %s, %v, %v", out, changed, err)
	}
}

// FuzzForce2D: any input either fails cleanly or comes back unchanged or
// as a geometry without Z or M; it never panics.
func FuzzForce2D(f *testing.F) {
	f.Add(le().header(1003).u32(1).u32(4).pos(0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1).b)
	f.Add(be().header(3|ewkbMFlag|ewkbSRIDFlag).u32(4326).u32(1).u32(4).pos(0, 0, 7, 1, 0, 7, 1, 1, 7, 0, 0, 7).b)
	f.Add([]byte("GEOMETRYCOLLECTION Z (POINT Z (1 2 3), LINESTRING Z (0 0 0, 1 1 1))"))
	f.Add([]byte(`{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2,3]}}`))
	f.Add([]byte("A Z Z"))             // a marker after a word that is no geometry
	f.Add([]byte("POINT Z Z (1 2 3)")) // a repeated marker
	f.Fuzz(func(t *testing.T, b []byte) {
		out, changed, err := Force2D(b)
		if err != nil || !changed {
			return
		}
		if _, err := Parse(out); errors.Is(err, ErrNot2D) {
			t.Fatalf("%q: still not 2-D after Force2D: %q", b, out)
		}
		if again, changed, err := Force2D(out); err != nil || changed {
			t.Fatalf("%q: Force2D of its output %q changes it again to %q (%v)", b, out, again, err)
		}
	})
}
