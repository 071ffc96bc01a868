package geo

import (
	"math"
	"sort"

	"github.com/golang/geo/s2"
	"github.com/paulmach/orb"
)

// sphere is a geometry on the unit sphere, edges along great circles.
type sphere struct {
	poly   *s2.Polygon // nil without polygonal parts
	lines  []s2.Polyline
	points []s2.Point
}

func (s *sphere) empty() bool {
	return (s.poly == nil || s.poly.IsEmpty()) && len(s.lines) == 0 && len(s.points) == 0
}

// seamKey is a position with the antimeridian's two names made one: -180
// becomes 180 and every longitude at a pole becomes 0, so that the copies of
// a vertex on either side of a cut compare equal.
type seamKey struct{ lon, lat float64 }

func keyOf(p orb.Point) seamKey {
	lat := math.Max(-90, math.Min(90, p[1]))
	if math.Abs(lat) == 90 {
		return seamKey{0, lat}
	}
	lon := wrapLon(p[0])
	if lon == -180 {
		lon = 180
	}
	return seamKey{lon, lat}
}

func (k seamKey) onSeam() bool { return k.lon == 180 || math.Abs(k.lat) == 90 }

func (k seamKey) point() s2.Point {
	return s2.PointFromLatLng(s2.LatLngFromDegrees(k.lat, k.lon))
}

func toSphere(p *parts) *sphere {
	s := &sphere{poly: spherePolygon(p.polys)}
	for _, l := range p.lines {
		var pl s2.Polyline
		var last seamKey
		for i, q := range l {
			k := keyOf(q)
			if i > 0 && k == last {
				continue
			}
			pl, last = append(pl, k.point()), k
		}
		if len(pl) == 1 {
			s.points = append(s.points, pl[0])
			continue
		}
		s.lines = append(s.lines, pl)
	}
	for _, q := range p.points {
		s.points = append(s.points, keyOf(q).point())
	}
	return s
}

// sEdge is a directed edge between canonical positions.
type sEdge struct{ a, b seamKey }

// spherePolygon builds one s2 polygon from the union of polygons, re-joining
// pieces that were cut at the antimeridian: the two copies of a cut edge run
// along the 180° meridian in opposite directions and cancel out, and pole-cap
// edges along ±90 shrink to nothing. What is left is the boundary of the
// region on the sphere. Rings must have their interior on the left (exteriors
// counter-clockwise, holes clockwise in lon/lat), as Fix makes them.
func spherePolygon(polys []orb.Polygon) *s2.Polygon {
	if len(polys) == 0 {
		return nil
	}
	var edges []sEdge
	var seam [][2]float64 // meridian-180 edges as (from lat, to lat)
	var planarArea float64
	for _, poly := range polys {
		for r, ring := range poly {
			a := signedArea(ring)
			if r == 0 {
				planarArea += math.Abs(a)
			} else {
				planarArea -= math.Abs(a)
			}
			n := len(ring)
			if n > 1 && ring[0] == ring[n-1] {
				n--
			}
			for i := range n {
				p, q := ring[i], ring[(i+1)%n]
				ka, kb := keyOf(p), keyOf(q)
				if ka == kb {
					continue
				}
				bothPoles := math.Abs(ka.lat) == 90 && math.Abs(kb.lat) == 90
				switch {
				case bothPoles && math.Abs(wrapLon(p[0])) == 180 && math.Abs(wrapLon(q[0])) == 180,
					!bothPoles && ka.onSeam() && kb.onSeam():
					seam = append(seam, [2]float64{ka.lat, kb.lat})
				case bothPoles:
					// Pole to pole along a meridian other than 180: say which.
					mid := seamKey{wrapLon(p[0]), 0}
					edges = append(edges, sEdge{ka, mid}, sEdge{mid, kb})
				default:
					edges = append(edges, sEdge{ka, kb})
				}
			}
		}
	}
	edges = append(edges, cancelSeam(seam)...)
	loops, ok := chainLoops(edges)
	if !ok {
		// The pieces do not join up (e.g. overlapping input); fall back to
		// one loop per ring, which is right for anything not cut.
		loops = nil
		for _, poly := range polys {
			for _, ring := range poly {
				if l := ringLoop(ring); l != nil {
					loops = append(loops, l)
				}
			}
		}
	}
	if len(loops) == 0 {
		// Everything cancelled: the whole sphere (the world rectangle) or a
		// shape with no area on the sphere (a band whose edges are 360° long).
		if planarArea > 360*180/2 {
			return s2.FullPolygon()
		}
		return nil
	}
	if len(loops) == 1 {
		// One loop already means its left side; skip the orientation
		// analysis, which costs exact arithmetic on collinear vertices.
		return s2.PolygonFromLoops(loops)
	}
	return s2.PolygonFromOrientedLoops(loops)
}

// cancelSeam splits edges on the 180° meridian at every latitude where one
// starts or ends (and at ±45° and 0°, so none is 180° long and ambiguous),
// then lets opposite pieces cancel. What remains is real boundary, such as
// the side of a polygon that touches the antimeridian from one side only.
func cancelSeam(seam [][2]float64) []sEdge {
	if len(seam) == 0 {
		return nil
	}
	breaks := []float64{-45, 0, 45}
	for _, e := range seam {
		breaks = append(breaks, e[0], e[1])
	}
	sort.Float64s(breaks)
	breaks = compactFloats(breaks)
	count := make(map[int]int) // piece index → net northward traversals
	for _, e := range seam {
		lo, hi, dir := e[0], e[1], 1
		if lo > hi {
			lo, hi, dir = hi, lo, -1
		}
		i := sort.SearchFloat64s(breaks, lo)
		for ; i+1 < len(breaks) && breaks[i+1] <= hi; i++ {
			count[i] += dir
		}
	}
	idx := make([]int, 0, len(count))
	for i := range count {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var out []sEdge
	for _, i := range idx {
		a, b := keyOf(orb.Point{180, breaks[i]}), keyOf(orb.Point{180, breaks[i+1]})
		c := count[i]
		if c < 0 {
			a, b, c = b, a, -c
		}
		for range c {
			out = append(out, sEdge{a, b})
		}
	}
	return out
}

func compactFloats(s []float64) []float64 {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}

// chainLoops links edges head to tail into closed loops.
func chainLoops(edges []sEdge) ([]*s2.Loop, bool) {
	from := make(map[seamKey][]int, len(edges))
	for i, e := range edges {
		from[e.a] = append(from[e.a], i)
	}
	used := make([]bool, len(edges))
	var loops []*s2.Loop
	for i := range edges {
		if used[i] {
			continue
		}
		used[i] = true
		start := edges[i].a
		keys := []seamKey{start}
		cur := edges[i].b
		for cur != start {
			next := -1
			for _, j := range from[cur] {
				if !used[j] {
					next = j
					break
				}
			}
			if next < 0 {
				return nil, false
			}
			used[next] = true
			keys = append(keys, cur)
			cur = edges[next].b
		}
		if len(keys) < 3 {
			continue // a there-and-back sliver encloses nothing
		}
		pts := make([]s2.Point, len(keys))
		for k, key := range keys {
			pts[k] = key.point()
		}
		loops = append(loops, loopFrom(pts))
	}
	return loops, true
}

// loopFrom makes a loop of pts (interior on the left), starting so that its
// second vertex is the one whose turn is closest to a right angle. s2 finds
// whether a loop contains its reference point by testing the wedge at the
// second vertex, and golang/geo lacks the exact predicates that keep that
// test right at a needle-sharp spike: Natural Earth's Sudan, started at a
// spike, came out as its complement (every filter on the sphere matched it).
func loopFrom(pts []s2.Point) *s2.Loop {
	n := len(pts)
	best, bestSin := 1, -1.0
	for i := range n {
		// |sin| of the turn at i, from the normals of its two edges.
		a, b, c := pts[(i+n-1)%n], pts[i], pts[(i+1)%n]
		n1, n2 := a.Cross(b.Vector), b.Cross(c.Vector)
		if d := n1.Norm() * n2.Norm(); d > 0 {
			if s := math.Abs(n1.Cross(n2).Dot(b.Vector)) / d; s > bestSin {
				best, bestSin = i, s
			}
		}
	}
	if best != 1 {
		start := (best + n - 1) % n
		pts = append(pts[start:len(pts):len(pts)], pts[:start]...)
	}
	return s2.LoopFromPoints(pts)
}

// ringLoop is a ring as a loop without consecutive duplicate vertices.
func ringLoop(ring orb.Ring) *s2.Loop {
	var pts []s2.Point
	var last seamKey
	for i, q := range ring {
		k := keyOf(q)
		if i > 0 && k == last {
			continue
		}
		pts, last = append(pts, k.point()), k
	}
	if len(pts) > 1 && pts[0] == pts[len(pts)-1] {
		pts = pts[:len(pts)-1]
	}
	if len(pts) < 3 {
		return nil
	}
	return loopFrom(pts)
}
