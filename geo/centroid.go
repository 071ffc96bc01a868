package geo

import (
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// Centroid is the planar lon/lat centroid of g (area-weighted for polygons,
// length-weighted for lines), computed so that pieces cut at the antimeridian
// count as one shape: when BBox runs across ±180, the pieces west of the seam
// are moved by +360° first, and the result is wrapped back. The two halves of
// a box around 180° thus have their centroid on 180, not on 0.
func Centroid(g orb.Geometry) orb.Point {
	if isEmptyGeom(g) {
		return orb.Point{}
	}
	bb := BBox(g)
	west, east := bb[0], bb[2]
	if west > east {
		g = shiftPoints(g, func(p orb.Point) orb.Point {
			if p[0] <= east {
				p[0] += 360
			}
			return p
		})
	}
	c, _ := planar.CentroidArea(g)
	if c[0] > 180 {
		c[0] -= 360
	}
	return c
}

// shiftPoints returns a copy of g with fn applied to every position.
func shiftPoints(g orb.Geometry, fn func(orb.Point) orb.Point) orb.Geometry {
	chain := func(pts []orb.Point) []orb.Point {
		out := make([]orb.Point, len(pts))
		for i, p := range pts {
			out[i] = fn(p)
		}
		return out
	}
	switch g := g.(type) {
	case orb.Point:
		return fn(g)
	case orb.MultiPoint:
		return orb.MultiPoint(chain(g))
	case orb.LineString:
		return orb.LineString(chain(g))
	case orb.MultiLineString:
		out := make(orb.MultiLineString, len(g))
		for i, l := range g {
			out[i] = chain(l)
		}
		return out
	case orb.Ring:
		return orb.Ring(chain(g))
	case orb.Polygon:
		out := make(orb.Polygon, len(g))
		for i, r := range g {
			out[i] = chain(r)
		}
		return out
	case orb.MultiPolygon:
		out := make(orb.MultiPolygon, len(g))
		for i, p := range g {
			out[i] = shiftPoints(p, fn).(orb.Polygon)
		}
		return out
	case orb.Collection:
		out := make(orb.Collection, len(g))
		for i, m := range g {
			out[i] = shiftPoints(m, fn)
		}
		return out
	case orb.Bound:
		return shiftPoints(g.ToPolygon(), fn)
	}
	return g
}
