// Package geo is the part of granary that gets geometry right: it reads
// footprints from WKB/EWKB, WKT and GeoJSON, validates them, cuts them at the
// antimeridian as RFC 7946 §3.1.9 asks, and answers the spatial predicates
// that query filters need, in planar lon/lat or on the sphere.
//
// Geometries are github.com/paulmach/orb values in EPSG:4326 lon/lat degrees.
// orb is two-dimensional, so Z and M ordinates are not carried: the readers
// refuse them (ErrNot2D), and Force2D drops them when a caller asks.
//
// The typical ingest path is Parse → Fix → Validate → MarshalWKB; the query
// path is Prefilter (index boxes) → Match (exact test per candidate).
package geo
