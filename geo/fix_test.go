package geo

import (
	"math"
	"strings"
	"testing"

	"github.com/paulmach/orb"
)

func TestFixStats(t *testing.T) {
	split := orb.Polygon{{{170, 40}, {-170, 40}, {-170, 50}, {170, 50}, {170, 40}}}
	cwSplit := orb.Polygon{orb.Ring(reversed(split[0]))}
	cwBox := orb.Polygon{orb.Ring(reversed(box(90, 40, 100, 50)[0]))}
	cases := []struct {
		name string
		g    orb.Geometry
		opts []FixOption
		want FixStats
		kind string
	}{
		{"simple", box(90, 40, 100, 50), nil, FixStats{}, "Polygon"},
		{"split", split, nil, FixStats{Split: 1}, "MultiPolygon"},
		{"clockwise split", cwSplit, nil, FixStats{Split: 1, Rewound: 1}, "MultiPolygon"},
		{"clockwise box", cwBox, nil, FixStats{Rewound: 1}, "Polygon"},
		{"clockwise box kept", cwBox, []FixOption{NoWindingFix()}, FixStats{}, "Polygon"},
		{"multipolygon counts once", orb.MultiPolygon{split, cwSplit}, nil, FixStats{Split: 1, Rewound: 1}, "MultiPolygon"},
		{"collection counts members", orb.Collection{split, cwBox}, nil, FixStats{Split: 1, Rewound: 1}, "Collection"},
		{"line", orb.LineString{{170, -10}, {-170, 10}}, nil, FixStats{Split: 1}, "MultiLineString"},
		{"line not crossing", orb.LineString{{10, 0}, {370, 10}}, nil, FixStats{}, "LineString"},
		{"point", orb.Point{190, 10}, nil, FixStats{}, "Point"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, st, err := Fix(c.g, c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if st != c.want {
				t.Errorf("stats %+v, want %+v", st, c.want)
			}
			if got.GeoJSONType() != c.kind && !(c.kind == "Collection" && got.GeoJSONType() == "GeometryCollection") {
				t.Errorf("got %s, want a %s", got.GeoJSONType(), c.kind)
			}
			if err := Validate(got); err != nil {
				t.Errorf("fixed geometry invalid: %v", err)
			}
		})
	}
}

func TestFixDetails(t *testing.T) {
	split := orb.Polygon{{{170, 40}, {-170, 40}, {-170, 50}, {170, 50}, {170, 40}}}
	t.Run("great circle vs flat crossing latitude", func(t *testing.T) {
		gc := BBox(mustFix(t, split))
		fl := BBox(mustFix(t, split, Flat()))
		if fl[3] != 50 || math.Abs(gc[3]-50.431313) > 1e-6 {
			t.Fatalf("north: flat %v, great circle %v; want 50 and 50.431313", fl[3], gc[3])
		}
	})
	t.Run("point wraps", func(t *testing.T) {
		if got := mustFix(t, orb.Point{190, 10}); got != (orb.Point{-170, 10}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("line cut keeps both crossing copies", func(t *testing.T) {
		got := mustFix(t, orb.LineString{{170, -10}, {-170, 10}}).(orb.MultiLineString)
		if len(got) != 2 || got[0][1] != (orb.Point{180, 0}) || got[1][0] != (orb.Point{-180, 0}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("near-duplicates removed", func(t *testing.T) {
		r := orb.Ring{{0, 0}, {10, 0}, {10, 1e-12}, {10, 10}, {0, 10}, {0, 0}}
		got := mustFix(t, orb.Polygon{r}).(orb.Polygon)
		if len(got[0]) != 5 {
			t.Fatalf("got %v", got[0])
		}
	})
	t.Run("clockwise box without winding fix is the world minus the box", func(t *testing.T) {
		cw := orb.Polygon{orb.Ring(reversed(box(90, 40, 100, 50)[0]))}
		got := mustFix(t, cw, NoWindingFix()).(orb.Polygon)
		if len(got) != 2 || got[0].Bound() != (orb.Bound{Min: orb.Point{-180, -90}, Max: orb.Point{180, 90}}) {
			t.Fatalf("got %s", WKT(got))
		}
	})
	t.Run("ring around the north pole is capped", func(t *testing.T) {
		got := mustFix(t, ringAt(60, 30)).(orb.Polygon)
		b := BBox(got)
		if b != [4]float64{-180, 60, 180, 90} {
			t.Fatalf("bbox %v", b)
		}
	})
	t.Run("forcing a pole", func(t *testing.T) {
		// Read as wound, a ring going east at 60N encloses the north pole.
		if b := BBox(mustFix(t, ringAt(60, 30), ForceSouthPole())); b[1] != -90 || b[3] > 61 {
			t.Fatalf("forced south: bbox %v, want it to reach -90", b)
		}
		if b := BBox(mustFix(t, ringAt(60, 30), ForceNorthPole())); b[3] != 90 {
			t.Fatalf("forced north: bbox %v, want it to reach 90", b)
		}
	})
	t.Run("nil", func(t *testing.T) {
		g, st, err := Fix(nil)
		if g != nil || st != (FixStats{}) || err != nil {
			t.Fatalf("got %v %v %v", g, st, err)
		}
	})
	t.Run("bound is a polygon", func(t *testing.T) {
		if _, ok := mustFix(t, orb.Bound{Min: orb.Point{0, 0}, Max: orb.Point{1, 1}}).(orb.Polygon); !ok {
			t.Fatal("want polygon")
		}
	})
}

func TestFixErrors(t *testing.T) {
	cases := []struct {
		name string
		g    orb.Geometry
		want string
	}{
		{"nan", orb.Polygon{{{0, 0}, {math.NaN(), 0}, {1, 1}, {0, 0}}}, "polygon: ring 0: vertex 1: non-finite"},
		{"latitude", orb.LineString{{0, 0}, {0, 95}}, "latitude 95"},
		{"collapsed ring", orb.Polygon{{{0, 0}, {1, 1}, {0, 0}, {0, 0}}}, "fewer than 3 distinct"},
		{"spike", orb.Polygon{{{0, 0}, {5, 0}, {10, 0}, {5, 0}, {5, 5}, {0, 0}}}, "zero-width spike"},
		{"hole", orb.Polygon{box(0, 0, 10, 10)[0], {{1, 1}, {2, 2}, {1, 1}}}, "ring 1"},
		{"multipolygon part", orb.MultiPolygon{box(0, 0, 1, 1), {{{0, 0}, {0, 0}}}}, "multipolygon part 1"},
		{"line", orb.LineString{{1, 1}, {1, 1}}, "fewer than 2 distinct"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Fix(c.g)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestBBoxAndCentroid(t *testing.T) {
	cases := []struct {
		name string
		g    orb.Geometry
		bbox [4]float64
		cent orb.Point
	}{
		{"box", box(0, 0, 10, 10), [4]float64{0, 0, 10, 10}, orb.Point{5, 5}},
		{"cut box", BBoxPolygon(170, -10, -170, 10), [4]float64{170, -10, -170, 10}, orb.Point{180, 0}},
		{"cut box off centre", BBoxPolygon(175, -10, -165, 10), [4]float64{175, -10, -165, 10}, orb.Point{-175, 0}},
		{"islands either side", orb.MultiPolygon{box(175, 0, 176, 1), box(-176, 0, -175, 1)}, [4]float64{175, 0, -175, 1}, orb.Point{180, 0.5}},
		{"far apart", orb.MultiPolygon{box(-100, 0, -90, 1), box(60, 0, 70, 1)}, [4]float64{-100, 0, 70, 1}, orb.Point{-15, 0.5}},
		// The shortest arc covering [-100,-90] and [90,100] runs across ±180.
		{"opposite sides", orb.MultiPolygon{box(-100, 0, -90, 1), box(90, 0, 100, 1)}, [4]float64{90, 0, -90, 1}, orb.Point{180, 0.5}},
		{"cut line", orb.MultiLineString{{{170, 0}, {180, 0}}, {{-180, 0}, {-170, 0}}}, [4]float64{170, 0, -170, 0}, orb.Point{180, 0}},
		{"points", orb.MultiPoint{{179, 0}, {-179, 2}}, [4]float64{179, 0, -179, 2}, orb.Point{180, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := BBox(c.g); got != c.bbox {
				t.Errorf("bbox %v, want %v", got, c.bbox)
			}
			if got := Centroid(c.g); math.Abs(got[0]-c.cent[0]) > 1e-9 || math.Abs(got[1]-c.cent[1]) > 1e-9 {
				t.Errorf("centroid %v, want %v", got, c.cent)
			}
		})
	}
	if BBox(nil) != [4]float64{} || Centroid(nil) != (orb.Point{}) || Bound(nil) != (orb.Bound{}) {
		t.Error("nil geometry: want zero values")
	}
}
