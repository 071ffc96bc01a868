package geo

import (
	"fmt"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// worldRing is the whole lon/lat plane, counter-clockwise.
var worldRing = orb.Ring{{-180, 90}, {-180, -90}, {180, -90}, {180, 90}, {-180, 90}}

// fixPolygon cuts one polygon. It returns one piece when nothing had to be
// cut (or the cut pieces joined up again, as for a ring around a pole).
func fixPolygon(p orb.Polygon, cfg *fixConfig) (orb.MultiPolygon, FixStats, error) {
	var st FixStats
	if len(p) == 0 {
		return orb.MultiPolygon{p}, st, nil
	}
	rings := make([][]vtx, len(p))
	for r, ring := range p {
		vs, err := prepare(ring, true)
		if err == nil {
			err = checkRing(vs)
		}
		if err != nil {
			return nil, st, fmt.Errorf("ring %d: %w", r, err)
		}
		rings[r] = vs
	}

	segs := cutRing(rings[0], cfg.flat)
	if segs == nil {
		return fixUncut(rings, cfg, &st), st, nil
	}
	st.Split = 1

	// Which poles the exterior closes over decides its reading. The walk
	// itself is the judge (a cheaper count of ends and starts along the seam
	// misjudges rings whose pieces double back near a pole).
	ext, err := stitch(segs)
	if err != nil {
		return nil, st, err
	}
	north, south := capsOf(ext)
	// Read literally, an exterior closed over both poles covers both; far
	// more often it is simply wound clockwise, so turn it round.
	flip := cfg.fixWinding && north && south
	wantN, wantS := cfg.forceNorth && !cfg.forceSouth, cfg.forceSouth && !cfg.forceNorth
	if wantN && !north || wantS && !south {
		// Only the opposite reading can close over the requested pole; take
		// it if it does.
		if rev, err := stitch(reverseSegments(segs)); err == nil {
			n, s := capsOf(rev)
			flip = wantN && n || wantS && s
		}
	}
	if flip {
		segs = reverseSegments(segs)
		st.Rewound++
	}

	// Holes that cross join the exterior's segments: where a hole is cut, the
	// pieces of the exterior on each side bend round it. Holes that do not
	// cross are handed to whichever piece ends up containing them.
	var keep []int // ring indexes of holes that do not cross
	for r := 1; r < len(rings); r++ {
		hs := cutRing(rings[r], cfg.flat)
		if hs == nil {
			keep = append(keep, r)
			continue
		}
		if cfg.fixWinding && unwrappedArea(rings[r]) > 0 {
			hs = cutRing(reverseVtx(rings[r]), cfg.flat)
			st.Rewound++
		}
		segs = append(segs, hs...)
	}

	exteriors, err := stitch(segs)
	if err != nil {
		return nil, st, err
	}
	out := make(orb.MultiPolygon, len(exteriors))
	for i, e := range exteriors {
		out[i] = orb.Polygon{e}
	}
	for _, r := range keep {
		hole := closedRing(rings[r])
		if cfg.fixWinding && signedArea(hole) > 0 {
			hole = orb.Ring(reversed(hole))
			st.Rewound++
		}
		k := containingPiece(out, hole)
		if k < 0 {
			return nil, st, fmt.Errorf("ring %d: hole lies outside every piece after the cut", r)
		}
		out[k] = append(out[k], hole)
	}
	return out, st, nil
}

// fixUncut handles a polygon whose exterior does not cross the antimeridian:
// only the winding may change.
func fixUncut(rings [][]vtx, cfg *fixConfig, st *FixStats) orb.MultiPolygon {
	poly := make(orb.Polygon, len(rings))
	for r, vs := range rings {
		poly[r] = closedRing(vs)
	}
	if cfg.fixWinding {
		for r, ring := range poly {
			a := signedArea(ring)
			if r == 0 && a < 0 || r > 0 && a > 0 {
				poly[r] = orb.Ring(reversed(ring))
				st.Rewound++
			}
		}
		return orb.MultiPolygon{poly}
	}
	if signedArea(poly[0]) < 0 {
		// Taken at its word, a clockwise exterior encloses everything but
		// itself. Its holes lie inside it, i.e. outside that region.
		return orb.MultiPolygon{{worldRing, poly[0]}}
	}
	return orb.MultiPolygon{poly}
}

func closedRing(vs []vtx) orb.Ring {
	r := make(orb.Ring, len(vs), len(vs)+1)
	for i, v := range vs {
		r[i] = v.pt()
	}
	return append(r, r[0])
}

func reverseVtx(vs []vtx) []vtx {
	out := make([]vtx, len(vs))
	for i, v := range vs {
		out[len(vs)-1-i] = v
	}
	return out
}

// unwrappedArea is the shoelace area of a ring after unwrapping its longitudes
// so that no edge jumps by more than 180°. It is 0 for a ring that circles a
// pole, whose orientation the plane cannot tell.
func unwrappedArea(vs []vtx) float64 {
	n := len(vs)
	pts := make([]orb.Point, n)
	x := vs[0].lon
	pts[0] = orb.Point{x, vs[0].lat}
	for i := 1; i <= n; i++ {
		d := vs[i%n].lon - vs[i-1].lon
		if d > 180 {
			d -= 360
		} else if d < -180 {
			d += 360
		}
		x += d
		if i < n {
			pts[i] = orb.Point{x, vs[i].lat}
		}
	}
	if x-vs[0].lon > 180 || x-vs[0].lon < -180 {
		return 0
	}
	return signedArea(pts)
}

// containingPiece picks the piece that holds most of the hole's vertices.
func containingPiece(pieces orb.MultiPolygon, hole orb.Ring) int {
	best, bestN := -1, 0
	for k, p := range pieces {
		n := 0
		for _, v := range hole[:len(hole)-1] {
			if planar.RingContains(p[0], v) {
				n++
			}
		}
		if n > bestN {
			best, bestN = k, n
		}
	}
	return best
}
