package geo

import (
	"math"
	"slices"

	"github.com/paulmach/orb"
)

// Planar predicates in the lon/lat plane. Boundaries count as part of a
// shape (a footprint touching a query box intersects it, and one lying along
// its edge is contained by it).

type location int

const (
	outside location = iota
	onBoundary
	inside
)

func orient(a, b, c orb.Point) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

func onSegment(p, a, b orb.Point) bool {
	return orient(a, b, p) == 0 &&
		min(a[0], b[0]) <= p[0] && p[0] <= max(a[0], b[0]) &&
		min(a[1], b[1]) <= p[1] && p[1] <= max(a[1], b[1])
}

func segmentsIntersect(a, b, c, d orb.Point) bool {
	o1, o2 := orient(a, b, c), orient(a, b, d)
	o3, o4 := orient(c, d, a), orient(c, d, b)
	if (o1 > 0 && o2 < 0 || o1 < 0 && o2 > 0) && (o3 > 0 && o4 < 0 || o3 < 0 && o4 > 0) {
		return true
	}
	return onSegment(c, a, b) || onSegment(d, a, b) || onSegment(a, c, d) || onSegment(b, c, d)
}

// locateInRing places p against a ring by boundary test and ray parity.
func locateInRing(p orb.Point, r orb.Ring) location {
	n := len(r)
	in := false
	for i := range n {
		a, b := r[i], r[(i+1)%n]
		if onSegment(p, a, b) {
			return onBoundary
		}
		if (a[1] > p[1]) != (b[1] > p[1]) {
			x := a[0] + (p[1]-a[1])*(b[0]-a[0])/(b[1]-a[1])
			if p[0] < x {
				in = !in
			}
		}
	}
	if in {
		return inside
	}
	return outside
}

func locateInPolygon(p orb.Point, poly orb.Polygon) location {
	loc := locateInRing(p, poly[0])
	if loc != inside {
		return loc
	}
	for _, h := range poly[1:] {
		switch locateInRing(p, h) {
		case inside:
			return outside
		case onBoundary:
			return onBoundary
		}
	}
	return inside
}

// locateInPolys is the best location of p over a union of polygons.
func locateInPolys(p orb.Point, polys []orb.Polygon) location {
	best := outside
	for _, poly := range polys {
		if l := locateInPolygon(p, poly); l > best {
			best = l
			if best == inside {
				break
			}
		}
	}
	return best
}

// touches reports whether p lies in or on any part of s.
func (s *parts) touches(p orb.Point) bool {
	if locateInPolys(p, s.polys) != outside {
		return true
	}
	for _, l := range s.lines {
		for i := 1; i < len(l); i++ {
			if onSegment(p, l[i-1], l[i]) {
				return true
			}
		}
		if len(l) == 1 && l[0] == p {
			return true
		}
	}
	return slices.Contains(s.points, p)
}

func planarIntersects(f, c *parts) bool {
	if !c.vertices(func(p orb.Point) bool { return !f.touches(p) }) {
		return true
	}
	if !f.vertices(func(p orb.Point) bool { return !c.touches(p) }) {
		return true
	}
	hit := false
	c.chains(true, true, func(cc []orb.Point) bool {
		f.chains(true, true, func(fc []orb.Point) bool {
			for i := 1; i < len(cc) && !hit; i++ {
				for j := 1; j < len(fc); j++ {
					if segmentsIntersect(cc[i-1], cc[i], fc[j-1], fc[j]) {
						hit = true
						break
					}
				}
			}
			return !hit
		})
		return !hit
	})
	return hit
}

// planarContains reports whether c lies entirely in f (boundary included).
func planarContains(f, c *parts) bool {
	for _, p := range c.points {
		if !f.touches(p) {
			return false
		}
	}
	// Every edge of c, cut wherever it meets f's edges, must have each piece
	// (tested at its midpoint) in f.
	covered := c.chains(true, true, func(cc []orb.Point) bool {
		return chainWithin(cc, f, func(p orb.Point) bool { return f.touches(p) })
	})
	if !covered || len(c.polys) == 0 {
		return covered
	}
	if len(f.polys) == 0 {
		return false // an area cannot lie in lines and points
	}
	// With c's boundary inside f, c's interior could still hold a hole of f
	// (or be a hole of f): f's boundary must stay out of c's interior, and
	// one interior point of each polygon of c must be in f.
	fOut := f.chains(false, true, func(fc []orb.Point) bool {
		return chainWithin(fc, c, func(p orb.Point) bool { return locateInPolys(p, c.polys) != inside })
	})
	if !fOut {
		return false
	}
	for _, poly := range c.polys {
		p, ok := interiorPoint(poly)
		if ok && locateInPolys(p, f.polys) == outside {
			return false
		}
	}
	return true
}

// chainWithin cuts each edge of chain at its contacts with other's edges and
// checks every vertex and every piece's midpoint with ok.
func chainWithin(chain []orb.Point, other *parts, ok func(orb.Point) bool) bool {
	for i, p := range chain {
		if !ok(p) {
			return false
		}
		if i == 0 {
			continue
		}
		a, b := chain[i-1], p
		ts := []float64{0, 1}
		other.chains(true, true, func(oc []orb.Point) bool {
			for j := 1; j < len(oc); j++ {
				ts = appendContacts(ts, a, b, oc[j-1], oc[j])
			}
			return true
		})
		slices.Sort(ts)
		for k := 1; k < len(ts); k++ {
			if ts[k]-ts[k-1] < 1e-12 {
				continue
			}
			t := (ts[k] + ts[k-1]) / 2
			m := orb.Point{a[0] + t*(b[0]-a[0]), a[1] + t*(b[1]-a[1])}
			if !ok(m) {
				return false
			}
		}
	}
	return true
}

// appendContacts adds the parameters along a→b where c→d touches or crosses it.
func appendContacts(ts []float64, a, b, c, d orb.Point) []float64 {
	param := func(q orb.Point) float64 {
		dx, dy := b[0]-a[0], b[1]-a[1]
		if math.Abs(dx) >= math.Abs(dy) {
			return (q[0] - a[0]) / dx
		}
		return (q[1] - a[1]) / dy
	}
	if a == b {
		return ts
	}
	for _, q := range [2]orb.Point{c, d} {
		if onSegment(q, a, b) {
			ts = append(ts, param(q))
		}
	}
	o1, o2 := orient(a, b, c), orient(a, b, d)
	o3, o4 := orient(c, d, a), orient(c, d, b)
	if (o1 > 0 && o2 < 0 || o1 < 0 && o2 > 0) && (o3 > 0 && o4 < 0 || o3 < 0 && o4 > 0) {
		ts = append(ts, o3/(o3-o4))
	}
	return ts
}

// interiorPoint finds a point strictly inside poly: next to the midpoint of
// its longest exterior edge, on whichever side is inside.
func interiorPoint(poly orb.Polygon) (orb.Point, bool) {
	r := poly[0]
	best, bestLen := -1, 0.0
	for i := 1; i < len(r); i++ {
		if l := math.Hypot(r[i][0]-r[i-1][0], r[i][1]-r[i-1][1]); l > bestLen {
			best, bestLen = i, l
		}
	}
	if best < 0 {
		return orb.Point{}, false
	}
	a, b := r[best-1], r[best]
	mx, my := (a[0]+b[0])/2, (a[1]+b[1])/2
	nx, ny := -(b[1]-a[1])/bestLen, (b[0]-a[0])/bestLen
	for eps := bestLen * 1e-3; eps > bestLen*1e-12; eps /= 16 {
		for _, s := range [2]float64{1, -1} {
			p := orb.Point{mx + s*eps*nx, my + s*eps*ny}
			if locateInPolygon(p, poly) == inside {
				return p, true
			}
		}
	}
	return orb.Point{}, false
}
