package geo

import (
	"math"
	"sort"

	"github.com/paulmach/orb"
)

// BBox returns [west, south, east, north] per RFC 7946 §5.2: when the
// geometry's parts sit on both sides of the antimeridian with the smallest
// longitude span across it, west > east. Parts are taken as they are (fixed,
// i.e. none crosses the seam by itself); the longitude range is the shortest
// arc of the circle that covers every part's range. nil gives all zeros.
func BBox(g orb.Geometry) [4]float64 {
	ivs, south, north := lonIntervals(g)
	if len(ivs) == 0 {
		return [4]float64{}
	}
	w, e := coveringArc(ivs)
	return [4]float64{w, south, e, north}
}

type lonInterval struct{ lo, hi float64 }

// lonIntervals collects the planar longitude range of each part of g, and the
// overall latitude range.
func lonIntervals(g orb.Geometry) (ivs []lonInterval, south, north float64) {
	south, north = math.Inf(1), math.Inf(-1)
	add := func(b orb.Bound) {
		ivs = append(ivs, lonInterval{b.Min[0], b.Max[0]})
		south, north = min(south, b.Min[1]), max(north, b.Max[1])
	}
	var walk func(orb.Geometry)
	walk = func(g orb.Geometry) {
		switch g := g.(type) {
		case nil:
		case orb.MultiPoint:
			for _, p := range g {
				add(p.Bound())
			}
		case orb.MultiLineString:
			for _, l := range g {
				if len(l) > 0 {
					add(l.Bound())
				}
			}
		case orb.MultiPolygon:
			for _, p := range g {
				if len(p) > 0 && len(p[0]) > 0 {
					add(p.Bound())
				}
			}
		case orb.Collection:
			for _, m := range g {
				walk(m)
			}
		default:
			if b := g.Bound(); !isEmptyGeom(g) {
				add(b)
			}
		}
	}
	walk(g)
	return ivs, south, north
}

func isEmptyGeom(g orb.Geometry) bool {
	switch g := g.(type) {
	case nil:
		return true
	case orb.Point, orb.Bound:
		return false
	case orb.LineString:
		return len(g) == 0
	case orb.Ring:
		return len(g) == 0
	case orb.Polygon:
		return len(g) == 0 || len(g[0]) == 0
	case orb.MultiPoint:
		return len(g) == 0
	case orb.MultiLineString:
		for _, l := range g {
			if len(l) > 0 {
				return false
			}
		}
		return true
	case orb.MultiPolygon:
		for _, p := range g {
			if !isEmptyGeom(p) {
				return false
			}
		}
		return true
	case orb.Collection:
		for _, m := range g {
			if !isEmptyGeom(m) {
				return false
			}
		}
		return true
	}
	return false
}

// coveringArc finds the shortest arc of the longitude circle covering all
// intervals, by leaving out the widest gap between them. It returns west >
// east when that arc runs across ±180. Ties keep the arc off the seam.
func coveringArc(ivs []lonInterval) (west, east float64) {
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].lo < ivs[j].lo })
	merged := []lonInterval{ivs[0]}
	for _, iv := range ivs[1:] {
		last := &merged[len(merged)-1]
		if iv.lo <= last.hi {
			last.hi = max(last.hi, iv.hi)
			continue
		}
		merged = append(merged, iv)
	}
	n := len(merged)
	gapAt, widest := -1, merged[0].lo+360-merged[n-1].hi // -1: the gap across ±180
	for k := 0; k+1 < n; k++ {
		if gap := merged[k+1].lo - merged[k].hi; gap > widest {
			gapAt, widest = k, gap
		}
	}
	if gapAt < 0 {
		return merged[0].lo, merged[n-1].hi
	}
	return merged[gapAt+1].lo, merged[gapAt].hi
}

// Bound is the planar lon/lat envelope of g, the key for a cartesian index
// prefilter. A geometry cut at the antimeridian with pieces on both sides gets
// the full longitude range, which is loose but never wrong. nil gives an
// empty bound at the origin.
func Bound(g orb.Geometry) orb.Bound {
	if g == nil {
		return orb.Bound{}
	}
	return g.Bound()
}

// BBoxPolygon turns a W,S,E,N box into a geometry fit for Match, cutting it in
// two when it crosses the antimeridian (west > east), so that a --bbox query
// over the Pacific means what it says.
func BBoxPolygon(west, south, east, north float64) orb.Geometry {
	if west <= east {
		return orb.Bound{Min: orb.Point{west, south}, Max: orb.Point{east, north}}.ToPolygon()
	}
	return orb.MultiPolygon{
		orb.Bound{Min: orb.Point{west, south}, Max: orb.Point{180, north}}.ToPolygon(),
		orb.Bound{Min: orb.Point{-180, south}, Max: orb.Point{east, north}}.ToPolygon(),
	}
}
