package geo

import (
	"errors"

	"github.com/paulmach/orb"
)

// segment is an open piece of a ring between two antimeridian crossings: it
// starts and ends on the seam, at (±180, φ), and lies on one side of it.
type segment []orb.Point

func (s segment) start() orb.Point { return s[0] }
func (s segment) end() orb.Point   { return s[len(s)-1] }

// seamSide is +1 for a point on the +180 edge of the map, -1 for -180.
func seamSide(p orb.Point) int {
	if p[0] > 0 {
		return 1
	}
	return -1
}

// appendDistinct appends p unless it repeats the last point, which happens
// where a vertex on the seam is itself the crossing.
func appendDistinct(pts []orb.Point, p orb.Point) []orb.Point {
	if len(pts) > 0 && nearlySame(pts[len(pts)-1], p) {
		return pts
	}
	return append(pts, p)
}

// cutRing splits a prepared ring (an open cycle) at every antimeridian
// crossing. It returns nil when the ring does not cross. Each crossing puts
// the crossing point on both sides: (180, φ) ends the piece east of the seam
// and (-180, φ) starts the piece west of it, or the other way round.
func cutRing(vs []vtx, flat bool) []segment {
	n := len(vs)
	first := -1
	for i := range n {
		if crosses(vs[i], vs[(i+1)%n]) {
			first = i
			break
		}
	}
	if first < 0 {
		return nil
	}
	var segs []segment
	// The piece after the first crossing starts on the far side of it.
	_, startPt := cutPoints(vs[first], vs[(first+1)%n], flat)
	cur := segment{startPt}
	for step := 1; step <= n; step++ {
		i := (first + step) % n
		cur = appendDistinct(cur, vs[i].pt())
		next := vs[(i+1)%n]
		if !crosses(vs[i], next) {
			continue
		}
		endPt, nextStart := cutPoints(vs[i], next, flat)
		cur = appendDistinct(cur, endPt)
		segs = append(segs, cur)
		if step < n {
			cur = segment{nextStart}
		}
	}
	return segs
}

// cutPoints returns the crossing of a→b as the end of a's side and the start
// of b's side.
func cutPoints(a, b vtx, flat bool) (end, start orb.Point) {
	lat := crossingLat(a, b, flat)
	s := 1.0
	if a.lon < 0 {
		s = -1
	}
	return orb.Point{s * 180, lat}, orb.Point{-s * 180, lat}
}

var errLineCollapsed = errors.New("line has fewer than 2 distinct positions")

// fixLine wraps a line and cuts it at every crossing. It returns the parts as a
// MultiLineString and whether it was cut; an uncut line is parts[0].
func fixLine(ls orb.LineString, cfg *fixConfig) (orb.MultiLineString, bool, error) {
	vs, err := prepare(ls, false)
	if err != nil {
		return nil, false, err
	}
	if len(vs) < 2 {
		return nil, false, errLineCollapsed
	}
	var parts orb.MultiLineString
	cur := orb.LineString{vs[0].pt()}
	for i := 1; i < len(vs); i++ {
		if crosses(vs[i-1], vs[i]) {
			endPt, startPt := cutPoints(vs[i-1], vs[i], cfg.flat)
			cur = orb.LineString(appendDistinct(cur, endPt))
			if len(cur) >= 2 {
				parts = append(parts, cur)
			}
			cur = orb.LineString{startPt}
		}
		cur = orb.LineString(appendDistinct(cur, vs[i].pt()))
	}
	if len(cur) >= 2 {
		parts = append(parts, cur)
	}
	if len(parts) == 0 {
		return nil, false, errLineCollapsed
	}
	return parts, len(parts) > 1, nil
}
