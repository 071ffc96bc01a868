package geo

import (
	"errors"

	"github.com/paulmach/orb"
)

// capsOf reports which poles stitched rings were closed over, recognised by
// the cap corners stitch inserts: (180, 90) → (-180, 90) and (-180, -90) →
// (180, -90).
func capsOf(rings []orb.Ring) (north, south bool) {
	for _, r := range rings {
		for i := 1; i < len(r); i++ {
			a, b := r[i-1], r[i]
			north = north || a == orb.Point{180, 90} && b == orb.Point{-180, 90}
			south = south || a == orb.Point{-180, -90} && b == orb.Point{180, -90}
		}
	}
	return north, south
}

func reverseSegments(segs []segment) []segment {
	out := make([]segment, len(segs))
	for i, s := range segs {
		out[i] = segment(reversed(s))
	}
	return out
}

var errStitch = errors.New("cannot join the pieces along the antimeridian")

// stitch joins segments into closed rings by walking along the seam with the
// interior on the left: from an end on +180 north to the nearest segment start
// on +180, from an end on -180 south to the nearest start on -180. With no
// start left in that direction the walk goes over the pole, adding the cap
// corners (180, 90) → (-180, 90) or (-180, -90) → (180, -90), and carries on
// along the other edge. A ring closes when the nearest start is its own.
func stitch(segs []segment) ([]orb.Ring, error) {
	used := make([]bool, len(segs))
	var rings []orb.Ring
	for i := range segs {
		if used[i] {
			continue
		}
		used[i] = true
		ring := append(orb.Ring(nil), segs[i]...)
		home := segs[i].start()
		for guard := 0; ; guard++ {
			if guard > 3*len(segs)+4 { // each step uses a segment or a pole
				return nil, errStitch
			}
			cur := ring[len(ring)-1]
			j, closes := nextStart(cur, home, segs, used)
			if closes {
				break
			}
			if j >= 0 {
				used[j] = true
				for _, p := range segs[j] {
					ring = orb.Ring(appendDistinct(ring, p))
				}
				continue
			}
			// Nothing further along this edge: over the pole to the other one.
			if seamSide(cur) > 0 {
				ring = orb.Ring(appendDistinct(ring, orb.Point{180, 90}))
				ring = append(ring, orb.Point{-180, 90})
			} else {
				ring = orb.Ring(appendDistinct(ring, orb.Point{-180, -90}))
				ring = append(ring, orb.Point{180, -90})
			}
		}
		if !nearlySame(ring[len(ring)-1], ring[0]) {
			ring = append(ring, ring[0])
		} else {
			ring[len(ring)-1] = ring[0]
		}
		if len(ring) >= 4 {
			rings = append(rings, ring)
		}
	}
	return rings, nil
}

// nextStart finds the segment start nearest to cur in the walking direction
// along cur's edge of the map. closes is true when that is the ring's own
// start (home); j is -1 when there is none and the walk must cross a pole.
func nextStart(cur, home orb.Point, segs []segment, used []bool) (j int, closes bool) {
	side := seamSide(cur)
	// dist is how far along the walk a start on the same edge lies.
	dist := func(p orb.Point) (float64, bool) {
		if seamSide(p) != side {
			return 0, false
		}
		d := p[1] - cur[1]
		if side < 0 {
			d = -d
		}
		return d, d >= 0
	}
	j, best := -1, 0.0
	if d, ok := dist(home); ok {
		closes, best = true, d
	}
	for k, s := range segs {
		if used[k] {
			continue
		}
		if d, ok := dist(s.start()); ok && (j < 0 && !closes || d < best) {
			j, closes, best = k, false, d
		}
	}
	return j, closes
}
