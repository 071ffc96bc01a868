package ingest

import (
	"strings"

	"github.com/granaryhq/granary/geo"
)

// geometryWKB reads one geometry in any spelling package geo parses
// (binary or hex WKB/EWKB in either byte order, WKT/EWKT, GeoJSON) and
// returns it as little-endian ISO WKB without SRID, the canonical geometry
// bytes. Geometries are stored as given: no antimeridian cutting or
// validation happens here.
func geometryWKB(data []byte) ([]byte, error) {
	g, err := geo.Parse(data)
	if err != nil {
		return nil, trimGeo(err)
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
