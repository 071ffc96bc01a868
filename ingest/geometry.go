package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/geo"
)

// geometryWKB reads one geometry in any spelling package geo parses
// (binary or hex WKB/EWKB in either byte order, WKT/EWKT, GeoJSON) and
// returns it as little-endian ISO WKB without SRID, the canonical geometry
// bytes. Geometries are stored as given: no antimeridian cutting or
// validation happens here.
func geometryWKB(data []byte) ([]byte, error) {
	// Canonical WKB of a valid footprint (most GeoParquet cells) is its
	// own canonical form: skip parsing and re-marshalling it.
	if !geo.NeedsFix(data) {
		return data, nil
	}
	g, err := geo.Parse(data)
	if err != nil {
		if errors.Is(err, geo.ErrNot2D) {
			return nil, trimGeo(fmt.Errorf("%w; --force-2d (WithForce2D) drops them", err))
		}
		if !isPointEmpty(data) {
			return nil, trimGeo(err)
		}
		// WKT's POINT EMPTY, which package geo's WKT reader refuses, is a
		// point with NaN coordinates in WKB (how GeoParquet and GEOS write it).
		g = orb.Point{wkbNaN, wkbNaN}
	}
	if p, ok := g.(orb.Point); ok && geo.IsEmpty(p) {
		// One spelling of the empty point, whatever NaN payload the input
		// had ("POINT(NaN NaN)", big-endian WKB), so that it has one ID.
		g = orb.Point{wkbNaN, wkbNaN}
	}
	b, err := geo.MarshalWKB(g)
	if err != nil {
		return nil, trimGeo(err)
	}
	return b, nil
}

// geoError drops package geo's "geo: " prefix: the message already says
// the value is a geometry.
type geoError struct{ err error }

func (e geoError) Error() string { return strings.TrimPrefix(e.err.Error(), "geo: ") }
func (e geoError) Unwrap() error { return e.err }

func trimGeo(err error) error { return geoError{err} }

// wkbNaN is the quiet NaN WKB writers use for empty points.
var wkbNaN = math.Float64frombits(0x7ff8000000000000)

// isPointEmpty recognises the WKT "POINT EMPTY" (any case and spacing, with
// an optional SRID=…; prefix).
func isPointEmpty(data []byte) bool {
	t := bytes.TrimSpace(data)
	if len(t) > 5 && bytes.EqualFold(t[:5], []byte("SRID=")) {
		if i := bytes.IndexByte(t, ';'); i > 0 {
			t = bytes.TrimSpace(t[i+1:])
		}
	}
	f := strings.Fields(strings.ToUpper(string(t)))
	return len(f) == 2 && f[0] == "POINT" && f[1] == "EMPTY"
}
