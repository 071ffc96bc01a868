package service

import (
	"testing"

	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/geo"
)

// TestIndexBounds: the boxes cover every part in the plane and the shape on
// the sphere.
func TestIndexBounds(t *testing.T) {
	covers := func(boxes []orb.Bound, b orb.Bound) bool {
		for _, x := range boxes {
			if x.Min[0] <= b.Min[0] && b.Max[0] <= x.Max[0] && x.Min[1] <= b.Min[1] && b.Max[1] <= x.Max[1] {
				return true
			}
		}
		return false
	}
	split := orb.MultiPolygon{
		orb.Bound{Min: orb.Point{170, -10}, Max: orb.Point{180, 10}}.ToPolygon(),
		orb.Bound{Min: orb.Point{-180, -10}, Max: orb.Point{-170, 10}}.ToPolygon()}
	uncut := orb.Polygon{{{170, -10}, {-170, -10}, {-170, 10}, {170, 10}, {170, -10}}}
	for _, tc := range []struct {
		name  string
		g     orb.Geometry
		boxes int
	}{
		{"box", orb.Bound{Min: orb.Point{10, 50}, Max: orb.Point{12, 52}}.ToPolygon(), 1},
		{"split at the antimeridian", split, 2},
		// Read the long way round in the plane: one box around all.
		{"uncut across the antimeridian", uncut, 1},
		{"point", orb.Point{13.4, 52.5}, 1},
		{"point on the antimeridian", orb.Point{-180, 3}, 1},
		{"line", orb.LineString{{0, 0}, {40, 60}}, 1},
		{"collection, the short way round", orb.Collection{orb.Point{1, 1}, orb.Point{-179, 0}}, 2},
	} {
		got := indexBounds(tc.g)
		if len(got) != tc.boxes {
			t.Errorf("%s: %d boxes %v, want %d", tc.name, len(got), got, tc.boxes)
		}
		eachPart(tc.g, func(b orb.Bound) {
			if !covers(got, b) {
				t.Errorf("%s: boxes %v miss part %v", tc.name, got, b)
			}
		})
		for _, s := range geo.SphericalBounds(tc.g) {
			if !covers(got, s) {
				t.Errorf("%s: boxes %v miss spherical bound %v", tc.name, got, s)
			}
		}
	}
	if b := indexBounds(uncut); b[0].Min[0] != -180 || b[0].Max[0] != 180 {
		t.Errorf("uncut: %v, want all longitudes", b)
	}
}

func TestGeometryWKB(t *testing.T) {
	wkb, _ := geo.MarshalWKB(orb.Point{1, 2})
	// time (1), geometry (4) holding wkb, a string field 5.
	data := []byte{0x0a, 0x02, 0x08, 0x01, 0x22, byte(2 + len(wkb)), 0x0a, byte(len(wkb))}
	data = append(append(data, wkb...), 0x2a, 0x01, 'x')
	got, err := geometryWKB(data)
	if err != nil || string(got) != string(wkb) {
		t.Errorf("geometryWKB: %x, %v", got, err)
	}
	for name, d := range map[string][]byte{
		"no geometry":    {0x0a, 0x02, 0x08, 0x01, 0x2a, 0x01, 'x'},
		"empty geometry": {0x0a, 0x02, 0x08, 0x01, 0x22, 0x00},
		"nothing":        nil,
	} {
		if got, err := geometryWKB(d); got != nil || err != nil {
			t.Errorf("%s: %x, %v", name, got, err)
		}
	}
	if _, err := geometryWKB([]byte{0x22, 0x05, 0x0a}); err == nil {
		t.Error("truncated: no error")
	}
}

// TestStoreFilter: the filter handed to the store is the fixed geometry
// (cut at the antimeridian for cartesian), with the mode and system.
func TestStoreFilter(t *testing.T) {
	g := orb.Polygon{{{170, -10}, {190, -10}, {190, 10}, {170, 10}, {170, -10}}}
	for _, cs := range []geo.CoordSystem{geo.Cartesian, geo.Spherical} {
		for _, mode := range []geo.Mode{geo.Intersects, geo.Contains} {
			sf := storeFilter(g, mode, cs)
			if sf == nil {
				t.Fatalf("%v %v: no store filter", mode, cs)
			}
			if sf.Contains != (mode == geo.Contains) || sf.Spherical != (cs == geo.Spherical) {
				t.Errorf("%v %v: store filter %+v", mode, cs, sf)
			}
			fixed, err := geo.ParseWKB(sf.Geometry)
			if err != nil {
				t.Fatal(err)
			}
			if b := fixed.Bound(); b.Min[0] < -180 || b.Max[0] > 180 {
				t.Errorf("%v %v: store filter not fixed: %v", mode, cs, geo.WKT(fixed))
			}
			for _, p := range []orb.Point{{175, 0}, {-175, 0}} {
				if !geo.Match(fixed, p, geo.Intersects, cs) {
					t.Errorf("%v %v: store filter %v misses %v", mode, cs, geo.WKT(fixed), p)
				}
			}
		}
	}
}
