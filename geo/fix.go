package geo

import (
	"fmt"

	"github.com/paulmach/orb"
)

// FixOption changes how Fix cuts geometries at the antimeridian.
type FixOption func(*fixConfig)

type fixConfig struct {
	flat       bool
	fixWinding bool
	forceNorth bool
	forceSouth bool
}

// Flat interpolates the latitude where an edge meets ±180 linearly in lon/lat,
// for data whose edges are straight in plate carrée. The default takes the
// latitude on the great circle through the edge's endpoints.
func Flat() FixOption { return func(c *fixConfig) { c.flat = true } }

// NoWindingFix trusts the input's ring orientation: a clockwise exterior then
// means "everything outside this ring", and rings that would cap both poles
// are kept that way instead of being reversed.
func NoWindingFix() FixOption { return func(c *fixConfig) { c.fixWinding = false } }

// ForceNorthPole makes a cut polygon that has to be closed over a pole close
// over the north pole. Footprints that barely pass over a pole have too few
// vertices there for the winding rule to pick the right pole. It implies
// NoWindingFix, as in the reference implementation.
func ForceNorthPole() FixOption {
	return func(c *fixConfig) { c.forceNorth, c.fixWinding = true, false }
}

// ForceSouthPole is ForceNorthPole for the south pole.
func ForceSouthPole() FixOption {
	return func(c *fixConfig) { c.forceSouth, c.fixWinding = true, false }
}

// FixStats counts what Fix changed, for ingest summaries.
type FixStats struct {
	Split   int // geometries cut at the antimeridian
	Rewound int // rings whose orientation was reversed
}

// Add accumulates s into the receiver.
func (f *FixStats) Add(s FixStats) {
	f.Split += s.Split
	f.Rewound += s.Rewound
}

// Fix makes g follow RFC 7946 §3.1.9: longitudes are wrapped into [-180, 180],
// polygons and lines that cross the antimeridian are cut there into pieces on
// either side, rings that circle a pole are closed over it, exteriors are made
// counter-clockwise and holes clockwise (unless NoWindingFix), and consecutive
// near-duplicate vertices are dropped. Points are only wrapped. Fixing a fixed
// geometry changes nothing.
//
// A Polygon comes back as a Polygon, or a MultiPolygon when it was cut into
// several pieces; a MultiPolygon stays a MultiPolygon. A LineString that was
// cut becomes a MultiLineString. Fix returns an error for input it cannot make
// sense of: non-finite coordinates, latitudes beyond ±90, rings that collapse
// or double back on themselves.
func Fix(g orb.Geometry, opts ...FixOption) (orb.Geometry, FixStats, error) {
	cfg := fixConfig{fixWinding: true}
	for _, o := range opts {
		o(&cfg)
	}
	var st FixStats
	out, err := fixGeom(g, &cfg, &st)
	if err != nil {
		return nil, FixStats{}, err
	}
	return out, st, nil
}

func fixGeom(g orb.Geometry, cfg *fixConfig, st *FixStats) (orb.Geometry, error) {
	switch g := g.(type) {
	case nil:
		return nil, nil
	case orb.Point:
		p, err := wrapPoint(g)
		if err != nil {
			return nil, fmt.Errorf("geo: fix point: %w", err)
		}
		return p, nil
	case orb.MultiPoint:
		out := make(orb.MultiPoint, len(g))
		for i, p := range g {
			w, err := wrapPoint(p)
			if err != nil {
				return nil, fmt.Errorf("geo: fix multipoint part %d: %w", i, err)
			}
			out[i] = w
		}
		return out, nil
	case orb.LineString:
		parts, cut, err := fixLine(g, cfg)
		if err != nil {
			return nil, fmt.Errorf("geo: fix linestring: %w", err)
		}
		if !cut {
			return parts[0], nil
		}
		st.Split++
		return parts, nil
	case orb.MultiLineString:
		var out orb.MultiLineString
		anyCut := false
		for i, ls := range g {
			parts, cut, err := fixLine(ls, cfg)
			if err != nil {
				return nil, fmt.Errorf("geo: fix multilinestring part %d: %w", i, err)
			}
			anyCut = anyCut || cut
			out = append(out, parts...)
		}
		if anyCut {
			st.Split++
		}
		return out, nil
	case orb.Ring:
		return fixGeom(orb.Polygon{g}, cfg, st)
	case orb.Bound:
		return fixGeom(g.ToPolygon(), cfg, st)
	case orb.Polygon:
		pieces, ps, err := fixPolygon(g, cfg)
		if err != nil {
			return nil, fmt.Errorf("geo: fix polygon: %w", err)
		}
		st.Add(ps)
		if len(pieces) == 1 {
			return pieces[0], nil
		}
		return pieces, nil
	case orb.MultiPolygon:
		var out orb.MultiPolygon
		var ms FixStats
		for i, p := range g {
			pieces, ps, err := fixPolygon(p, cfg)
			if err != nil {
				return nil, fmt.Errorf("geo: fix multipolygon part %d: %w", i, err)
			}
			ms.Rewound += ps.Rewound
			ms.Split = max(ms.Split, ps.Split) // the multipolygon is one geometry
			out = append(out, pieces...)
		}
		st.Add(ms)
		return out, nil
	case orb.Collection:
		out := make(orb.Collection, len(g))
		for i, m := range g {
			f, err := fixGeom(m, cfg, st)
			if err != nil {
				return nil, fmt.Errorf("geo: fix collection member %d: %w", i, err)
			}
			out[i] = f
		}
		return out, nil
	default:
		return nil, fmt.Errorf("geo: fix: unsupported geometry type %T", g)
	}
}

func wrapPoint(p orb.Point) (orb.Point, error) {
	if err := checkFixable(p); err != nil {
		return orb.Point{}, err
	}
	return orb.Point{wrapLon(p[0]), p[1]}, nil
}
