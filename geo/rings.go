package geo

import "github.com/paulmach/orb"

// CloseAllRings returns a copy of g in which every polygon ring ends with its
// first position; it is what the CloseRings validate option expects callers to
// store. Rings that are already closed, and non-polygonal geometries, are
// returned as they are.
func CloseAllRings(g orb.Geometry) orb.Geometry {
	switch g := g.(type) {
	case orb.Ring:
		return closeRing(g)
	case orb.Polygon:
		return closePolygon(g)
	case orb.MultiPolygon:
		out := make(orb.MultiPolygon, len(g))
		for i, p := range g {
			out[i] = closePolygon(p)
		}
		return out
	case orb.Collection:
		out := make(orb.Collection, len(g))
		for i, m := range g {
			out[i] = CloseAllRings(m)
		}
		return out
	default:
		return g
	}
}

func closePolygon(p orb.Polygon) orb.Polygon {
	out := make(orb.Polygon, len(p))
	for i, r := range p {
		out[i] = closeRing(r)
	}
	return out
}

func closeRing(r orb.Ring) orb.Ring {
	if len(r) == 0 || r[0] == r[len(r)-1] {
		return r
	}
	out := make(orb.Ring, len(r), len(r)+1)
	copy(out, r)
	return append(out, r[0])
}

// signedArea is the shoelace area of a ring in the lon/lat plane: positive
// when counter-clockwise. The ring may be open or closed.
func signedArea(r []orb.Point) float64 {
	n := len(r)
	if n < 3 {
		return 0
	}
	var s float64
	for i := range n {
		a, b := r[i], r[(i+1)%n]
		s += a[0]*b[1] - b[0]*a[1]
	}
	return s / 2
}

func reversed(r []orb.Point) []orb.Point {
	out := make([]orb.Point, len(r))
	for i, p := range r {
		out[len(r)-1-i] = p
	}
	return out
}
