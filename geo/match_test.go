package geo

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golang/geo/s1"
	"github.com/golang/geo/s2"
	"github.com/paulmach/orb"
)

func box(w, s, e, n float64) orb.Polygon {
	return orb.Polygon{{{w, s}, {e, s}, {e, n}, {w, n}, {w, s}}}
}

// ringAt is a ring of vertices every step degrees at one latitude, counter-
// clockwise seen from above the north pole (eastward).
func ringAt(lat, step float64) orb.Polygon {
	var r orb.Ring
	for lon := -180.0 + step/2; lon < 180; lon += step {
		r = append(r, orb.Point{lon, lat})
	}
	if lat < 0 {
		r = orb.Ring(reversed(r)) // westward: the south pole is on the left
	}
	return orb.Polygon{append(r, r[0])}
}

func fixed(t testing.TB, g orb.Geometry, opts ...FixOption) orb.Geometry {
	t.Helper()
	return mustFix(t, g, opts...)
}

type matchCase struct {
	name       string
	filter     orb.Geometry
	cand       orb.Geometry
	cs         CoordSystem
	intersects bool
	contains   bool
}

func TestMatchKnownAnswers(t *testing.T) {
	pacific := BBoxPolygon(170, -10, -170, 10) // crosses the antimeridian
	crossing := fixed(t, orb.Polygon{{{172, -5}, {-172, -5}, {-172, 5}, {172, 5}, {172, -5}}}, Flat())
	donut := orb.Polygon{box(0, 0, 10, 10)[0], orb.Ring(reversed(box(4, 4, 6, 6)[0]))}
	northCap := fixed(t, ringAt(80, 90))
	southCap := fixed(t, ringAt(-80, 90))
	// On the sphere the edge (-30,60)–(30,60) bulges north to 63.43° at lon 0.
	triangle := orb.Polygon{{{-30, 60}, {0, 50}, {30, 60}, {-30, 60}}}
	nearBulge := box(-1, 61.5, 1, 62.5)

	cases := []matchCase{
		// Across the antimeridian, planar, with a filter cut in two.
		{"pacific/point east", pacific, orb.Point{175, 0}, Cartesian, true, true},
		{"pacific/point west", pacific, orb.Point{-175, 5}, Cartesian, true, true},
		{"pacific/point on seam", pacific, orb.Point{180, 0}, Cartesian, true, true},
		{"pacific/point far", pacific, orb.Point{0, 0}, Cartesian, false, false},
		{"pacific/cut footprint", pacific, crossing, Cartesian, true, true},
		{"pacific/overlaps east", pacific, box(160, 0, 175, 5), Cartesian, true, false},
		{"pacific/overlaps west", pacific, box(-175, 0, -160, 5), Cartesian, true, false},
		{"pacific/disjoint", pacific, box(100, 0, 110, 5), Cartesian, false, false},
		{"pacific/touches edge", pacific, box(160, 0, 170, 5), Cartesian, true, false},
		{"pacific/line inside", pacific, orb.LineString{{175, 0}, {179, 1}}, Cartesian, true, true},
		{"pacific/line out and back", pacific, orb.LineString{{175, 0}, {160, 0}, {175, 1}}, Cartesian, true, false},
		{"pacific/nil", pacific, nil, Cartesian, false, false},
		{"pacific/empty polygon", pacific, orb.Polygon{}, Cartesian, false, false},
		{"box/itself", box(0, 0, 10, 10), box(0, 0, 10, 10), Cartesian, true, true},
		{"box/along edge", box(0, 0, 10, 10), box(0, 0, 5, 10), Cartesian, true, true},
		// Holes.
		{"donut/in hole", donut, box(4.5, 4.5, 5.5, 5.5), Cartesian, false, false},
		{"donut/covers hole", donut, box(3, 3, 7, 7), Cartesian, true, false},
		{"donut/in ring", donut, box(1, 1, 3, 3), Cartesian, true, true},
		{"donut/is hole", donut, box(4, 4, 6, 6), Cartesian, true, false},
		// Near the poles, planar: the cap is the band from 80° up to 90°.
		{"north cap/point", northCap, orb.Point{45, 85}, Cartesian, true, true},
		{"north cap/point at 81", northCap, orb.Point{0, 81}, Cartesian, true, true},
		{"north cap/point south", northCap, orb.Point{45, 70}, Cartesian, false, false},
		{"north cap/inner cap", northCap, fixed(t, ringAt(85, 90)), Cartesian, true, true},
		{"south cap/point", southCap, orb.Point{-100, -89}, Cartesian, true, true},
		{"south cap/north cap", southCap, northCap, Cartesian, false, false},

		// The same questions on the sphere.
		{"pacific/point east/s2", pacific, orb.Point{175, 0}, Spherical, true, true},
		{"pacific/point west/s2", pacific, orb.Point{-175, 5}, Spherical, true, true},
		{"pacific/point far/s2", pacific, orb.Point{0, 0}, Spherical, false, false},
		{"pacific/cut footprint/s2", pacific, crossing, Spherical, true, true},
		{"pacific/uncut footprint/s2", pacific, orb.Polygon{{{172, -5}, {-172, -5}, {-172, 5}, {172, 5}, {172, -5}}}, Spherical, true, true},
		{"pacific/overlaps west/s2", pacific, box(-175, 0, -160, 5), Spherical, true, false},
		{"pacific/disjoint/s2", pacific, box(100, 0, 110, 5), Spherical, false, false},
		{"pacific/line/s2", pacific, orb.LineString{{175, 0}, {-179, 1}}, Spherical, true, true},
		{"pacific/nil/s2", pacific, nil, Spherical, false, false},
		// Great-circle edges bulge toward the pole: planar says no, the sphere yes.
		{"bulge/planar", nearBulge, triangle, Cartesian, false, false},
		{"bulge/sphere", nearBulge, triangle, Spherical, true, false},
		{"bulge/contained on sphere", triangle, nearBulge, Spherical, true, true},
		// A ring of 4 vertices at 80°N is an 80°–82.9° band of great circles on
		// the sphere: (0, 81), mid-edge, lies outside it there, inside in the plane.
		{"north cap/point at 81/s2", northCap, orb.Point{0, 81}, Spherical, false, false},
		{"north cap/pole/s2", northCap, orb.Point{0, 90}, Spherical, true, true},
		{"north cap/point/s2", northCap, orb.Point{-135, 86}, Spherical, true, true},
		{"north cap/inner cap/s2", northCap, fixed(t, ringAt(85, 90)), Spherical, true, true},
		{"north cap/uncut inner ring/s2", northCap, ringAt(85, 90), Spherical, true, true},
		{"north cap/box across/s2", northCap, box(170, 84, -170+360, 86), Spherical, true, true},
		{"south cap/pole/s2", southCap, orb.Point{123, -90}, Spherical, true, true},
		{"south cap/point north/s2", southCap, orb.Point{0, -70}, Spherical, false, false},
		{"south cap/north cap/s2", southCap, northCap, Spherical, false, false},
		{"box/itself/s2", box(0, 0, 10, 10), box(0, 0, 10, 10), Spherical, true, true},
		{"donut/in hole/s2", donut, box(4.5, 4.5, 5.5, 5.5), Spherical, false, false},
		{"donut/covers hole/s2", donut, box(3, 3, 7, 7), Spherical, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Match(c.filter, c.cand, Intersects, c.cs); got != c.intersects {
				t.Errorf("intersects = %v, want %v", got, c.intersects)
			}
			if got := Match(c.filter, c.cand, Contains, c.cs); got != c.contains {
				t.Errorf("contains = %v, want %v", got, c.contains)
			}
			if c.cand != nil && (c.intersects || c.contains) && !prefilterHit(c.filter, c.cand, c.cs) {
				t.Errorf("prefilter boxes %v miss the candidate's key", Prefilter(c.filter, c.cs))
			}
		})
	}
}

func prefilterHit(filter, cand orb.Geometry, cs CoordSystem) bool {
	key := Bound(cand)
	if cs == Spherical {
		key = SphericalBound(cand)
	}
	for _, b := range Prefilter(filter, cs) {
		if b.Intersects(key) {
			return true
		}
	}
	return false
}

func TestNewFilterFixesTheQuery(t *testing.T) {
	// An unfixed query box over the Pacific, as a user would write it.
	q := orb.Polygon{{{170, -10}, {190, -10}, {190, 10}, {170, 10}, {170, -10}}}
	for _, cs := range []CoordSystem{Cartesian, Spherical} {
		f, err := NewFilter(q, Intersects, cs)
		if err != nil {
			t.Fatal(err)
		}
		if !f.Match(orb.Point{-175, 0}) || !f.Match(orb.Point{175, 0}) || f.Match(orb.Point{0, 0}) {
			t.Errorf("%v: wrong answers for a fixed Pacific filter", cs)
		}
		if n := len(f.Prefilter()); n != 2 {
			t.Errorf("%v: %d prefilter boxes, want 2 (split at the antimeridian): %v", cs, n, f.Prefilter())
		}
	}
	if _, err := NewFilter(nil, Intersects, Cartesian); err == nil {
		t.Error("nil filter: want error")
	}
}

func TestPrefilterBoxes(t *testing.T) {
	got := Prefilter(BBoxPolygon(170, -10, -170, 10), Cartesian)
	want := []orb.Bound{{Min: orb.Point{170, -10}, Max: orb.Point{180, 10}}, {Min: orb.Point{-180, -10}, Max: orb.Point{-170, 10}}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("cartesian pacific: got %v, want %v", got, want)
	}
	polar := Prefilter(fixed(t, ringAt(80, 90)), Spherical)
	if len(polar) != 1 || polar[0].Min[0] != -180 || polar[0].Max[0] != 180 || polar[0].Max[1] != 90 {
		t.Errorf("spherical polar cap: got %v, want all longitudes up to 90", polar)
	}
	tri := orb.Polygon{{{-30, 60}, {0, 50}, {30, 60}, {-30, 60}}}
	if n := SphericalBound(tri).Max[1]; n < 63.4 {
		t.Errorf("spherical bound north = %v, want ≥ 63.43 (great-circle bulge)", n)
	}
	if n := Bound(tri).Max[1]; n != 60 {
		t.Errorf("planar bound north = %v, want 60", n)
	}
	if b := Prefilter(orb.Polygon{}, Cartesian); b != nil {
		t.Errorf("empty filter: got %v, want no boxes", b)
	}
}

// TestPrefilterNeverMisses checks on random footprints and query boxes that
// whatever Match accepts, the prefilter lets through.
func TestPrefilterNeverMisses(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		cx, cy := rng.Float64()*360-180, rng.Float64()*160-80
		w, h := 1+rng.Float64()*30, 1+rng.Float64()*9
		cand := fixed(t, orb.Polygon{{{cx - w, cy - h}, {cx + w, cy - h}, {cx + w, cy + h}, {cx - w, cy + h}, {cx - w, cy - h}}})
		qx, qy := rng.Float64()*360-180, rng.Float64()*170-85
		qw, qh := 1+rng.Float64()*40, 1+rng.Float64()*20
		filter := BBoxPolygon(wrapLon(qx-qw), max(-90, qy-qh), wrapLon(qx+qw), min(90, qy+qh))
		for _, cs := range []CoordSystem{Cartesian, Spherical} {
			if Match(filter, cand, Intersects, cs) && !prefilterHit(filter, cand, cs) {
				t.Fatalf("case %d %v: match but prefilter %v misses key of %s", i, cs, Prefilter(filter, cs), WKT(cand))
			}
		}
	}
}

// TestSphericalMatchRandomFootprints checks the sphere conversion, which
// joins cut pieces back up, against s2 loops built straight from the uncut
// input: a point is matched exactly when it lies in the footprint.
func TestSphericalMatchRandomFootprints(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 99))
	for i := range 120 {
		in := randomFootprint(rng)
		cut := fixed(t, in)
		want := inputRegion(in)
		fCut, err := NewFilter(cut, Intersects, Spherical)
		if err != nil {
			t.Fatal(err)
		}
		fRaw := newFilter(in, Intersects, Spherical)
		for range 100 {
			p := randomSpherePoint(rng)
			if nearLoop(p, want.ext, s1.Angle(1e-3*math.Pi/180)) {
				continue
			}
			ll := s2.LatLngFromPoint(p)
			pt := orb.Point{ll.Lng.Degrees(), ll.Lat.Degrees()}
			w := want.contains(p)
			if got := fCut.Match(pt); got != w {
				t.Fatalf("footprint %d %s, point %v: cut filter says %v, want %v", i, WKT(cut), pt, got, w)
			}
			if got := fRaw.Match(pt); got != w {
				t.Fatalf("footprint %d %s, point %v: raw filter says %v, want %v", i, WKT(in), pt, got, w)
			}
		}
	}
}

func nearLoop(p s2.Point, l *s2.Loop, margin s1.Angle) bool {
	vs := l.Vertices()
	for i := range vs {
		if s2.DistanceFromSegment(p, vs[i], vs[(i+1)%len(vs)]) < margin {
			return true
		}
	}
	return false
}

// TestWholeWorldFilter: the world rectangle is the whole sphere with
// great-circle edges too (its edges cancel at the seam and the poles), so
// every candidate matches, in both modes, and the full filter is never
// contained by a smaller one.
func TestWholeWorldFilter(t *testing.T) {
	world := BBoxPolygon(-180, -90, 180, 90)
	candidates := []orb.Geometry{
		orb.Point{1, 2},
		orb.Point{180, 89.9},
		orb.LineString{{-170, 10}, {170, 10}},
		orb.Polygon{{{10, 50}, {12, 50}, {12, 52}, {10, 52}, {10, 50}}},
		orb.MultiPolygon{{{{170, -10}, {180, -10}, {180, 10}, {170, 10}, {170, -10}}}, {{{-180, -10}, {-170, -10}, {-170, 10}, {-180, 10}, {-180, -10}}}},
		world,
	}
	for _, cs := range []CoordSystem{Cartesian, Spherical} {
		for _, mode := range []Mode{Intersects, Contains} {
			f, err := NewFilter(world, mode, cs)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range candidates {
				if !f.Match(c) {
					t.Errorf("%v %v: the whole world does not match %s", cs, mode, WKT(c))
				}
			}
		}
		small, err := NewFilter(orb.Polygon{{{10, 50}, {12, 50}, {12, 52}, {10, 52}, {10, 50}}}, Contains, cs)
		if err != nil {
			t.Fatal(err)
		}
		if small.Match(world) {
			t.Errorf("%v: a small box contains the whole world", cs)
		}
	}
}

// TestSphericalNeedleSpike: a ring with a needle-sharp spike (from Natural
// Earth's Sudan) is the small region on the sphere whichever vertex it
// starts at; started at the spike, s2 alone took it for its complement, and
// every spherical filter matched it.
func TestSphericalNeedleSpike(t *testing.T) {
	ring := orb.Ring{{23.805813429466752, 8.666318874542526}, {24.567369012152085, 8.229187933785468}, {23.886979580860668, 8.619729712933065}, {24.19406772118765, 8.728696472403897}, {26, 12}, {22, 12}}
	for r := range ring {
		rot := append(append(orb.Ring{}, ring[r:]...), ring[:r]...)
		poly := orb.Polygon{append(rot, rot[0])}
		for _, c := range []struct {
			filter orb.Geometry
			want   bool
		}{
			{orb.Point{24, 10}, true},
			{orb.Point{-150, 0}, false},
			{BBoxPolygon(170, -20, -170, 20), false},
			{BBoxPolygon(20, 5, 30, 15), true},
		} {
			f, err := NewFilter(c.filter, Intersects, Spherical)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(poly); got != c.want {
				t.Errorf("ring started at vertex %d: intersects %s = %v, want %v", r, WKT(c.filter), got, c.want)
			}
		}
	}
}
