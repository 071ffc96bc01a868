package geo

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/paulmach/orb"
)

// ValidationError says what is wrong with a geometry and where. Part, Ring and
// Vertex are -1 when they do not apply (e.g. a point has no ring).
type ValidationError struct {
	Kind   string // geometry type of the offending part, e.g. "Polygon"
	Part   int    // index in a multi-geometry or collection
	Ring   int    // ring index in a polygon: 0 exterior, 1.. holes
	Vertex int    // position index in the ring or line
	Reason string
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("geo: invalid ")
	b.WriteString(e.Kind)
	if e.Part >= 0 {
		fmt.Fprintf(&b, " part %d", e.Part)
	}
	if e.Ring >= 0 {
		fmt.Fprintf(&b, " ring %d", e.Ring)
	}
	if e.Vertex >= 0 {
		fmt.Fprintf(&b, " vertex %d", e.Vertex)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// ValidateOption changes what Validate accepts.
type ValidateOption func(*validateConfig)

type validateConfig struct {
	acceptOpenRings bool
}

// CloseRings makes Validate accept a ring whose last position differs from its
// first, counting it as if it were closed. Validate never modifies its input:
// CloseAllRings makes the closed copy that should be stored. (Go cannot give
// the option and the function the same name.)
func CloseRings() ValidateOption {
	return func(c *validateConfig) { c.acceptOpenRings = true }
}

// IsEmpty reports whether g is an empty geometry (POINT EMPTY, which WKB
// spells with NaN coordinates, or a line string, polygon or collection
// with no parts): a footprint of nothing, which Validate refuses and
// callers store as given, matched by no spatial filter.
func IsEmpty(g orb.Geometry) bool {
	switch g := g.(type) {
	case nil:
		return true
	case orb.Point:
		return g[0] != g[0] && g[1] != g[1] // NaN
	case orb.MultiPoint:
		return len(g) == 0
	case orb.LineString:
		return len(g) == 0
	case orb.MultiLineString:
		return len(g) == 0
	case orb.Polygon:
		return len(g) == 0
	case orb.MultiPolygon:
		return len(g) == 0
	case orb.Collection:
		return len(g) == 0
	}
	return false
}

// Validate checks what ingest requires of a footprint: finite coordinates,
// latitude in [-90, 90], longitude in [-180, 180] (wrap first, e.g. with Fix),
// rings closed with at least 4 positions, and no empty parts.
func Validate(g orb.Geometry, opts ...ValidateOption) error {
	var cfg validateConfig
	for _, o := range opts {
		o(&cfg)
	}
	if g == nil {
		return errors.New("geo: invalid geometry: nil")
	}
	return validateGeom(g, -1, &cfg)
}

func validateGeom(g orb.Geometry, part int, cfg *validateConfig) error {
	switch g := g.(type) {
	case orb.Point:
		return checkPos(g, "Point", part, -1, -1)
	case orb.MultiPoint:
		if len(g) == 0 {
			return &ValidationError{Kind: "MultiPoint", Part: part, Ring: -1, Vertex: -1, Reason: "empty"}
		}
		for i, p := range g {
			if err := checkPos(p, "MultiPoint", i, -1, -1); err != nil {
				return err
			}
		}
	case orb.LineString:
		return checkLine(g, "LineString", part)
	case orb.MultiLineString:
		if len(g) == 0 {
			return &ValidationError{Kind: "MultiLineString", Part: part, Ring: -1, Vertex: -1, Reason: "empty"}
		}
		for i, ls := range g {
			if err := checkLine(ls, "MultiLineString", i); err != nil {
				return err
			}
		}
	case orb.Ring:
		return checkPolygon(orb.Polygon{g}, "Ring", part, cfg)
	case orb.Polygon:
		return checkPolygon(g, "Polygon", part, cfg)
	case orb.MultiPolygon:
		if len(g) == 0 {
			return &ValidationError{Kind: "MultiPolygon", Part: part, Ring: -1, Vertex: -1, Reason: "empty"}
		}
		for i, p := range g {
			if err := checkPolygon(p, "MultiPolygon", i, cfg); err != nil {
				return err
			}
		}
	case orb.Collection:
		if len(g) == 0 {
			return &ValidationError{Kind: "GeometryCollection", Part: part, Ring: -1, Vertex: -1, Reason: "empty"}
		}
		for i, m := range g {
			if m == nil {
				return &ValidationError{Kind: "GeometryCollection", Part: i, Ring: -1, Vertex: -1, Reason: "nil member"}
			}
			if err := validateGeom(m, i, cfg); err != nil {
				return err
			}
		}
	case orb.Bound:
		return checkPolygon(g.ToPolygon(), "Bound", part, cfg)
	default:
		return fmt.Errorf("geo: invalid geometry: unsupported type %T", g)
	}
	return nil
}

func checkLine(ls orb.LineString, kind string, part int) error {
	if len(ls) < 2 {
		return &ValidationError{Kind: kind, Part: part, Ring: -1, Vertex: -1,
			Reason: fmt.Sprintf("line has %d positions, needs at least 2", len(ls))}
	}
	for i, p := range ls {
		if err := checkPos(p, kind, part, -1, i); err != nil {
			return err
		}
	}
	return nil
}

func checkPolygon(p orb.Polygon, kind string, part int, cfg *validateConfig) error {
	if len(p) == 0 {
		return &ValidationError{Kind: kind, Part: part, Ring: -1, Vertex: -1, Reason: "polygon has no rings"}
	}
	for r, ring := range p {
		for i, pt := range ring {
			if err := checkPos(pt, kind, part, r, i); err != nil {
				return err
			}
		}
		n := len(ring)
		closed := n > 0 && ring[0] == ring[n-1]
		if !closed && n > 0 {
			if !cfg.acceptOpenRings {
				return &ValidationError{Kind: kind, Part: part, Ring: r, Vertex: n - 1,
					Reason: fmt.Sprintf("ring not closed: last position %v differs from first %v", ring[n-1], ring[0])}
			}
			n++ // counted as if CloseRings had appended the first position
		}
		if n < 4 {
			return &ValidationError{Kind: kind, Part: part, Ring: r, Vertex: -1,
				Reason: fmt.Sprintf("ring has %d positions, needs at least 4", n)}
		}
	}
	return nil
}

func checkPos(p orb.Point, kind string, part, ring, vertex int) error {
	lon, lat := p[0], p[1]
	fail := func(reason string) error {
		return &ValidationError{Kind: kind, Part: part, Ring: ring, Vertex: vertex, Reason: reason}
	}
	switch {
	case math.IsNaN(lon) || math.IsInf(lon, 0) || math.IsNaN(lat) || math.IsInf(lat, 0):
		return fail(fmt.Sprintf("non-finite coordinate (%v, %v)", lon, lat))
	case lat < -90 || lat > 90:
		return fail(fmt.Sprintf("latitude %v outside [-90, 90]", lat))
	case lon < -180 || lon > 180:
		return fail(fmt.Sprintf("longitude %v outside [-180, 180]; wrap it first (Fix does)", lon))
	}
	return nil
}
