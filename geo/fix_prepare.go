package geo

import (
	"errors"
	"fmt"
	"math"

	"github.com/paulmach/orb"
)

const (
	// seamSnap is how close to ±180 a wrapped longitude must be to count as on
	// the antimeridian: 1e-9 relative to 180°, i.e. float noise such as
	// 179.99999999999997, never real geometry (issues-174 has a vertex
	// 0.0012° from the seam that must stay where it is).
	seamSnap = 180 * 1e-9
	// dupTol is the distance in degrees below which consecutive vertices are
	// one vertex (about 0.1 mm). It is absolute, unlike the reference's NumPy
	// relative test, so dense vertices near ±180 are not thinned.
	dupTol = 1e-9
)

// vtx is a position being fixed. seam marks longitudes on ±180; for those the
// sign of lon says which side of the cut the vertex belongs to.
type vtx struct {
	lon, lat float64
	seam     bool
}

func (v vtx) pt() orb.Point { return orb.Point{v.lon, v.lat} }

func (v vtx) atPole() bool { return math.Abs(v.lat) == 90 }

func nearlySame(a, b orb.Point) bool {
	return math.Abs(a[0]-b[0]) <= dupTol && math.Abs(a[1]-b[1]) <= dupTol
}

// wrapLon maps a longitude into [-180, 180]; ±180 keep their sign.
func wrapLon(lon float64) float64 {
	if lon >= -180 && lon <= 180 {
		return lon
	}
	return math.Remainder(lon, 360)
}

func checkFixable(p orb.Point) error {
	lon, lat := p[0], p[1]
	if math.IsNaN(lon) || math.IsInf(lon, 0) || math.IsNaN(lat) || math.IsInf(lat, 0) {
		return fmt.Errorf("non-finite coordinate (%v, %v)", lon, lat)
	}
	if lat < -90 || lat > 90 {
		return fmt.Errorf("latitude %v outside [-90, 90]", lat)
	}
	return nil
}

// prepare turns input positions into wrapped vertices with their seam sides
// resolved and near-duplicates removed. For a ring (cyclic) the closing
// position is dropped: the result is an open cycle.
func prepare(pts []orb.Point, cyclic bool) ([]vtx, error) {
	vs := make([]vtx, 0, len(pts))
	for i, p := range pts {
		if err := checkFixable(p); err != nil {
			return nil, fmt.Errorf("vertex %d: %w", i, err)
		}
		lon := wrapLon(p[0])
		v := vtx{lon: lon, lat: p[1]}
		if 180-math.Abs(lon) <= seamSnap {
			v.lon, v.seam = math.Copysign(180, lon), true
		}
		vs = append(vs, v)
	}
	resolveSeamSides(vs, cyclic)
	return dedupe(vs, cyclic), nil
}

// resolveSeamSides decides which side of the cut each vertex on ±180 belongs
// to: the side of the vertex before it (for a line's leading seam vertices,
// the one after). A vertex on the seam is reachable from both sides, so its
// literal sign says nothing: 180.0 after -176.8 belongs with the western
// vertices, and (180,78)→(-180,81) runs along the seam without crossing it.
// Pole vertices on the seam, (±180, ±90), keep their sign: they are the corners
// of a pole cap in already-fixed input, and that is what makes Fix idempotent.
// If every vertex is on the seam there is nothing to go by and signs are kept.
func resolveSeamSides(vs []vtx, cyclic bool) {
	decided := func(v vtx) bool { return !v.seam || v.atPole() }
	sideOf := func(v vtx) float64 {
		if v.lon < 0 {
			return -1
		}
		return 1
	}
	n := len(vs)
	first := -1
	for i, v := range vs {
		if decided(v) {
			first = i
			break
		}
	}
	if first < 0 {
		return
	}
	side := sideOf(vs[first])
	if !cyclic {
		for i := 0; i < first; i++ {
			vs[i].lon = side * 180
		}
	}
	limit := n
	if !cyclic {
		limit = n - first
	}
	for k := 1; k < limit; k++ {
		i := (first + k) % n
		if decided(vs[i]) {
			side = sideOf(vs[i])
			continue
		}
		vs[i].lon = side * 180
	}
}

// dedupe drops vertices within dupTol of the one before; for a cycle also the
// trailing ones equal to the first (which removes the closing position).
func dedupe(vs []vtx, cyclic bool) []vtx {
	out := make([]vtx, 0, len(vs))
	for _, v := range vs {
		if len(out) > 0 && nearlySame(out[len(out)-1].pt(), v.pt()) {
			continue
		}
		out = append(out, v)
	}
	if cyclic {
		for len(out) > 1 && nearlySame(out[len(out)-1].pt(), out[0].pt()) {
			out = out[:len(out)-1]
		}
	}
	return out
}

var errCollapsed = errors.New("ring has fewer than 3 distinct positions")

// checkRing rejects rings the cutter cannot handle: fewer than 3 distinct
// positions, or a zero-width spike (a vertex whose neighbours coincide, so the
// ring runs out and straight back). Such rings have no consistent inside.
func checkRing(vs []vtx) error {
	n := len(vs)
	if n < 3 {
		return errCollapsed
	}
	for i := range n {
		prev, next := vs[(i+n-1)%n], vs[(i+1)%n]
		if nearlySame(prev.pt(), next.pt()) {
			return fmt.Errorf("ring doubles back on itself at vertex %d (%v, %v): zero-width spike", i, vs[i].lon, vs[i].lat)
		}
	}
	return nil
}

// crosses reports whether the edge a→b crosses the antimeridian: its
// longitudes differ by more than 180°, so the short way round goes over ±180.
// Edges between two seam vertices run along the seam (or, from -180 to 180,
// are a full-width band edge), and edges between two positions of the same
// pole run along the pole; neither is a crossing.
func crosses(a, b vtx) bool {
	if a.seam && b.seam {
		return false
	}
	if a.atPole() && a.lat == b.lat {
		return false
	}
	return math.Abs(b.lon-a.lon) > 180
}
