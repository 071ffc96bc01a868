package geo

import (
	"fmt"

	"github.com/paulmach/orb"
)

// Mode is the spatial relation a query filter asks for.
type Mode int

const (
	// Intersects matches candidates that share at least one point with the
	// filter (touching counts).
	Intersects Mode = iota
	// Contains matches candidates that lie entirely inside the filter
	// (boundary included).
	Contains
)

func (m Mode) String() string {
	switch m {
	case Intersects:
		return "intersects"
	case Contains:
		return "contains"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// CoordSystem says how edges between vertices run.
type CoordSystem int

const (
	// Cartesian: straight lines in the lon/lat plane. Geometries must be
	// fixed (cut at the antimeridian); pieces on both sides then simply lie
	// at opposite ends of the plane.
	Cartesian CoordSystem = iota
	// Spherical: great circles on the sphere (s2). Cut pieces are joined
	// back up, so fixed and unfixed geometries both work.
	Spherical
)

func (c CoordSystem) String() string {
	switch c {
	case Cartesian:
		return "cartesian"
	case Spherical:
		return "spherical"
	}
	return fmt.Sprintf("CoordSystem(%d)", int(c))
}

// Match reports whether candidate satisfies filter under mode: for Contains,
// candidate lies fully inside filter. A nil or empty candidate (a datapoint
// without geometry) never matches, nor does anything against an empty filter.
// Polygon rings should be oriented as Fix leaves them (exteriors
// counter-clockwise, holes clockwise); on the sphere orientation decides
// which side of a ring is inside. To test many candidates against one
// filter, build a Filter once instead.
func Match(filter, candidate orb.Geometry, mode Mode, cs CoordSystem) bool {
	return newFilter(filter, mode, cs).Match(candidate)
}

// Filter is a query geometry prepared for testing many candidates.
type Filter struct {
	mode  Mode
	cs    CoordSystem
	flat  parts
	round *sphere
}

// NewFilter fixes g (default Fix options: great-circle crossings, winding
// fixed) and prepares it for Match under mode and cs.
func NewFilter(g orb.Geometry, mode Mode, cs CoordSystem) (*Filter, error) {
	if g == nil {
		return nil, fmt.Errorf("geo: filter: nil geometry")
	}
	opts := []FixOption{}
	if cs == Cartesian {
		opts = append(opts, Flat())
	}
	fixed, _, err := Fix(g, opts...)
	if err != nil {
		return nil, fmt.Errorf("geo: filter: %w", err)
	}
	if err := Validate(fixed); err != nil {
		return nil, fmt.Errorf("geo: filter: %w", err)
	}
	return newFilter(fixed, mode, cs), nil
}

func newFilter(g orb.Geometry, mode Mode, cs CoordSystem) *Filter {
	f := &Filter{mode: mode, cs: cs, flat: flatten(g)}
	if cs == Spherical {
		f.round = toSphere(&f.flat)
	}
	return f
}

// Match tests one candidate; see the package-level Match.
func (f *Filter) Match(candidate orb.Geometry) bool {
	if candidate == nil || f.flat.empty() {
		return false
	}
	c := flatten(candidate)
	if c.empty() {
		return false
	}
	if f.cs == Spherical {
		s := toSphere(&c)
		if s.empty() || f.round.empty() {
			return false
		}
		if f.mode == Contains {
			return sphereContains(f.round, s)
		}
		return sphereIntersects(f.round, s)
	}
	if f.mode == Contains {
		return planarContains(&f.flat, &c)
	}
	return planarIntersects(&f.flat, &c)
}

// Prefilter returns the filter's index boxes; see the package-level Prefilter.
func (f *Filter) Prefilter() []orb.Bound {
	if f.cs == Spherical {
		return splitAtSeam(sphereRect(f.round))
	}
	return planarBoxes(&f.flat)
}
