package geo

import (
	"math"

	"github.com/golang/geo/s2"
	"github.com/paulmach/orb"
)

// boundPad widens spherical bounds by ~0.1 mm to absorb the rounding of the
// radian-to-degree conversion, so a bound never clips its geometry.
const boundPad = 1e-9

// Prefilter returns one or two lon/lat boxes (two when the filter spans the
// antimeridian) such that every candidate that can match filter has an index
// key intersecting at least one of them. For Cartesian the key is Bound(c);
// for Spherical it must be SphericalBound(c), because great-circle edges bulge
// poleward of their endpoints. SphericalBound(c) contains Bound(c), so an index
// keyed on SphericalBound serves both coordinate systems. An empty filter
// gives no boxes.
func Prefilter(filter orb.Geometry, cs CoordSystem) []orb.Bound {
	return newFilter(filter, Intersects, cs).Prefilter()
}

func planarBoxes(p *parts) []orb.Bound {
	var g orb.Collection
	for _, q := range p.polys {
		g = append(g, q)
	}
	for _, l := range p.lines {
		g = append(g, l)
	}
	if len(p.points) > 0 {
		g = append(g, orb.MultiPoint(p.points))
	}
	if len(g) == 0 {
		return nil
	}
	bb := BBox(g)
	if bb[0] <= bb[2] {
		return []orb.Bound{{Min: orb.Point{bb[0], bb[1]}, Max: orb.Point{bb[2], bb[3]}}}
	}
	return []orb.Bound{
		{Min: orb.Point{bb[0], bb[1]}, Max: orb.Point{180, bb[3]}},
		{Min: orb.Point{-180, bb[1]}, Max: orb.Point{bb[2], bb[3]}},
	}
}

// SphericalBound is a lon/lat box containing g on the sphere: it reaches as
// far toward the poles as g's great-circle edges do, and covers all
// longitudes when g runs across the antimeridian or around a pole. Use it as
// the index key for Spherical queries. nil gives an empty bound.
func SphericalBound(g orb.Geometry) orb.Bound {
	p := flatten(g)
	boxes := splitAtSeam(sphereRect(toSphere(&p)))
	switch len(boxes) {
	case 0:
		return orb.Bound{}
	case 1:
		return boxes[0]
	}
	return orb.Bound{Min: orb.Point{-180, boxes[0].Min[1]}, Max: orb.Point{180, boxes[0].Max[1]}}
}

// SphericalBounds is SphericalBound as one or two boxes, split at the
// antimeridian instead of widened to all longitudes.
func SphericalBounds(g orb.Geometry) []orb.Bound {
	p := flatten(g)
	return splitAtSeam(sphereRect(toSphere(&p)))
}

// sphereRect is s2's conservative lat/lng rectangle of the whole shape.
func sphereRect(s *sphere) s2.Rect {
	r := s2.EmptyRect()
	if s == nil {
		return r
	}
	if s.hasArea() {
		r = r.Union(s.poly.RectBound())
	}
	for _, l := range s.lines {
		r = r.Union(l.RectBound())
	}
	for _, p := range s.points {
		r = r.AddPoint(s2.LatLngFromPoint(p))
	}
	return r
}

func splitAtSeam(r s2.Rect) []orb.Bound {
	if r.IsEmpty() {
		return nil
	}
	deg := 180 / math.Pi
	south := math.Max(-90, r.Lat.Lo*deg-boundPad)
	north := math.Min(90, r.Lat.Hi*deg+boundPad)
	if r.Lng.IsFull() {
		return []orb.Bound{{Min: orb.Point{-180, south}, Max: orb.Point{180, north}}}
	}
	west := math.Max(-180, r.Lng.Lo*deg-boundPad)
	east := math.Min(180, r.Lng.Hi*deg+boundPad)
	if !r.Lng.IsInverted() {
		return []orb.Bound{{Min: orb.Point{west, south}, Max: orb.Point{east, north}}}
	}
	return []orb.Bound{
		{Min: orb.Point{west, south}, Max: orb.Point{180, north}},
		{Min: orb.Point{-180, south}, Max: orb.Point{east, north}},
	}
}
