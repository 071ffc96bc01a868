package geo

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkt"
)

// ParseWKT decodes WKT, also in the PostGIS EWKT form "SRID=4326;POLYGON(...)".
// As with EWKB, an SRID other than 4326 is an error that names it.
func ParseWKT(s string) (orb.Geometry, error) {
	body := strings.TrimSpace(s)
	if len(body) >= 5 && strings.EqualFold(body[:5], "SRID=") {
		head, rest, ok := strings.Cut(body[5:], ";")
		if !ok {
			return nil, fmt.Errorf("geo: parse wkt: EWKT SRID prefix has no ';'")
		}
		srid, err := strconv.Atoi(strings.TrimSpace(head))
		if err != nil {
			return nil, fmt.Errorf("geo: parse wkt: EWKT SRID %q: %w", head, err)
		}
		if srid != 0 && srid != sridWGS84 {
			return nil, fmt.Errorf("geo: parse wkt: SRID %d is not supported (want 4326 or none)", srid)
		}
		body = rest
	}
	g, err := wkt.Unmarshal(body)
	if err != nil {
		if wktHasZM(body) {
			err = ErrNot2D
		}
		return nil, fmt.Errorf("geo: parse wkt %q: %w", abbreviate(body, 40), err)
	}
	return g, nil
}

// WKT renders g as WKT text (2-D, full float precision). A point with NaN
// coordinates, which is how WKB spells POINT EMPTY, is written POINT EMPTY.
func WKT(g orb.Geometry) string {
	if g == nil {
		return "GEOMETRYCOLLECTION EMPTY"
	}
	if p, ok := g.(orb.Point); ok && IsEmpty(p) {
		return "POINT EMPTY"
	}
	return wkt.MarshalString(g)
}

// abbreviate keeps error messages short when the input is a large geometry.
func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
