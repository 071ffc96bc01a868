package geo

import (
	"github.com/golang/geo/s1"
	"github.com/golang/geo/s2"
)

// Spherical predicates. Polygon against polygon is s2's exact test; lines and
// points are tested edge by edge. A point counts as on a line within
// onLineTol (about 6 mm on Earth), since a point is almost never exactly on a
// great circle in floating point.

const onLineTol = s1.Angle(1e-9)

func (s *sphere) hasArea() bool { return s.poly != nil && !s.poly.IsEmpty() }

// full reports whether s covers the whole sphere (the world rectangle). s2's
// full polygon has no shape index, which its ContainsPoint, Intersects and
// Contains dereference: the predicates answer for it themselves.
func (s *sphere) full() bool { return s.poly != nil && s.poly.IsFull() }

func (s *sphere) containsPoint(p s2.Point) bool {
	if s.full() || s.hasArea() && s.poly.ContainsPoint(p) {
		return true
	}
	for _, l := range s.lines {
		for i := 1; i < len(l); i++ {
			if s2.DistanceFromSegment(p, l[i-1], l[i]) <= onLineTol {
				return true
			}
		}
	}
	for _, q := range s.points {
		if q.Distance(p) <= onLineTol {
			return true
		}
	}
	return false
}

func sphereIntersects(f, c *sphere) bool {
	if (f.full() && !c.empty()) || (c.full() && !f.empty()) {
		return true
	}
	if f.hasArea() && c.hasArea() && f.poly.Intersects(c.poly) {
		return true
	}
	for _, p := range c.points {
		if f.containsPoint(p) {
			return true
		}
	}
	for _, p := range f.points {
		if c.containsPoint(p) {
			return true
		}
	}
	for _, l := range c.lines {
		if lineTouches(l, f) {
			return true
		}
	}
	for _, l := range f.lines {
		if lineTouches(l, c) {
			return true
		}
	}
	return false
}

// lineTouches reports whether a polyline meets any part of s.
func lineTouches(l s2.Polyline, s *sphere) bool {
	for _, p := range l {
		if s.containsPoint(p) {
			return true
		}
	}
	if s.hasArea() && crossesPolygon(l, s.poly, false) {
		return true
	}
	for _, o := range s.lines {
		if l.Intersects(&o) {
			return true
		}
	}
	return false
}

// crossesPolygon reports whether an edge of l meets an edge of poly; with
// strict, only a proper crossing counts (not a shared vertex).
func crossesPolygon(l s2.Polyline, poly *s2.Polygon, strict bool) bool {
	for i := 1; i < len(l); i++ {
		crosser := s2.NewEdgeCrosser(l[i-1], l[i])
		for e := range poly.NumEdges() {
			edge := poly.Edge(e)
			switch crosser.CrossingSign(edge.V0, edge.V1) {
			case s2.Cross:
				return true
			case s2.MaybeCross:
				if !strict {
					return true
				}
			}
		}
	}
	return false
}

// sphereContains reports whether every part of c lies in f.
func sphereContains(f, c *sphere) bool {
	switch {
	case f.full():
		return true
	case c.full():
		return false
	}
	if c.hasArea() && !(f.hasArea() && f.poly.Contains(c.poly)) {
		return false
	}
	for _, p := range c.points {
		if !f.containsPoint(p) {
			return false
		}
	}
	for _, l := range c.lines {
		if !lineWithin(l, f) {
			return false
		}
	}
	return true
}

// lineWithin: every vertex in f, and no edge leaving f's area through its
// boundary (or, for a line filter, every edge midpoint on f too).
func lineWithin(l s2.Polyline, f *sphere) bool {
	for _, p := range l {
		if !f.containsPoint(p) {
			return false
		}
	}
	for i := 1; i < len(l); i++ {
		mid := s2.Interpolate(0.5, l[i-1], l[i])
		if !f.containsPoint(mid) {
			return false
		}
	}
	if f.hasArea() && crossesPolygon(l, f.poly, true) {
		// Some edge crosses the boundary; it only stays inside if the line
		// part is covered by f's lines instead.
		for i := 1; i < len(l); i++ {
			seg := s2.Polyline{l[i-1], l[i]}
			if crossesPolygon(seg, f.poly, true) && !onLines(seg, f) {
				return false
			}
		}
	}
	return true
}

func onLines(seg s2.Polyline, f *sphere) bool {
	only := &sphere{lines: f.lines}
	return only.containsPoint(seg[0]) && only.containsPoint(seg[1]) &&
		only.containsPoint(s2.Interpolate(0.5, seg[0], seg[1]))
}
