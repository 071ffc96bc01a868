package service

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/paulmach/orb"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/granaryhq/granary/geo"
	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

// Spatial queries run in two steps: the store's index narrows the ID range
// to candidates whose bounds meet the filter's prefilter boxes, and each
// candidate's geometry is then tested exactly with geo.Filter.Match. A
// store that can run the exact test itself (store.Query.Spatial: PostgreSQL
// with PostGIS, cartesian filters) returns only matches, marked
// SpatialMatch, which are not tested again.

// Candidate batches of a spatial query: at least minCandidates per store
// call, doubling while candidates fail the exact test, up to maxCandidates
// (or the page, if larger).
const (
	minCandidates = 256
	maxCandidates = 16384
)

// geometryWKB returns the WKB of the geometry field (number 4, a
// datasets.v1.Geometry) of canonical datapoint bytes; nil when the field is
// absent or holds no WKB.
func geometryWKB(data []byte) ([]byte, error) {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		data = data[n:]
		if num > schema.NumberGeometry {
			return nil, nil // canonical bytes are ordered by field number
		}
		if num != schema.NumberGeometry {
			m := protowire.ConsumeFieldValue(num, typ, data)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			data = data[m:]
			continue
		}
		if typ != protowire.BytesType {
			return nil, fmt.Errorf("field %d has wire type %d, not a message", num, typ)
		}
		msg, m := protowire.ConsumeBytes(data)
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		var wkb []byte
		for len(msg) > 0 {
			inum, ityp, k := protowire.ConsumeTag(msg)
			if k < 0 {
				return nil, protowire.ParseError(k)
			}
			msg = msg[k:]
			if inum == 1 && ityp == protowire.BytesType {
				v, k := protowire.ConsumeBytes(msg)
				if k < 0 {
					return nil, protowire.ParseError(k)
				}
				wkb, msg = v, msg[k:]
				continue
			}
			k = protowire.ConsumeFieldValue(inum, ityp, msg)
			if k < 0 {
				return nil, protowire.ParseError(k)
			}
			msg = msg[k:]
		}
		if len(wkb) == 0 {
			return nil, nil
		}
		return wkb, nil
	}
	return nil, nil
}

// ingestBounds reads, parses and validates the geometry of a canonical
// value and returns the boxes the store indexes it under (nil without
// geometry). The geometry is stored as sent: IDs are over the bytes the
// client chose, and fixing (cutting at the antimeridian) is the client's.
func ingestBounds(canon []byte) ([]orb.Bound, error) {
	wkb, err := geometryWKB(canon)
	if err != nil || wkb == nil {
		return nil, err
	}
	g, err := geo.ParseWKB(wkb)
	if err != nil {
		return nil, err
	}
	if geo.IsEmpty(g) {
		// A footprint of nothing (GeoParquet writers spell a missing one
		// POLYGON EMPTY), kept as ingest keeps it: stored, indexed under
		// no box, so no spatial filter matches it.
		return nil, nil
	}
	if err := geo.Validate(g); err != nil {
		return nil, err
	}
	return indexBounds(g), nil
}

// indexBounds covers g for both coordinate systems: geo.SphericalBounds
// (one box, or two split at the antimeridian) reaches as far as g's
// great-circle edges, and contains the planar bound of each part of a fixed
// geometry. A part it does not contain (a geometry that runs across the
// antimeridian without being cut, whose planar reading spans the other way
// round) makes it one box around everything, loose but correct.
func indexBounds(g orb.Geometry) []orb.Bound {
	boxes := geo.SphericalBounds(g)
	var extra orb.Bound
	uncovered := false
	eachPart(g, func(b orb.Bound) {
		for _, x := range boxes {
			if x.Min[0] <= b.Min[0] && b.Max[0] <= x.Max[0] && x.Min[1] <= b.Min[1] && b.Max[1] <= x.Max[1] {
				return
			}
		}
		if !uncovered {
			extra, uncovered = b, true
		} else {
			extra = extra.Union(b)
		}
	})
	if !uncovered {
		return boxes
	}
	for _, x := range boxes {
		extra = extra.Union(x)
	}
	return []orb.Bound{extra}
}

// eachPart calls fn with the planar bound of each polygon, line and point
// of g.
func eachPart(g orb.Geometry, fn func(orb.Bound)) {
	switch g := g.(type) {
	case orb.MultiPoint:
		for _, p := range g {
			fn(p.Bound())
		}
	case orb.MultiLineString:
		for _, l := range g {
			fn(l.Bound())
		}
	case orb.MultiPolygon:
		for _, p := range g {
			fn(p.Bound())
		}
	case orb.Collection:
		for _, m := range g {
			eachPart(m, fn)
		}
	case nil:
	default:
		fn(g.Bound())
	}
}

// spatialFilter reads a QueryFilters.spatial_extent: the geometry as WKB or
// EWKB (SRID 0 or 4326; Z and M are dropped), the mode and the coordinate system (unspecified:
// intersects, cartesian). geo.NewFilter fixes the geometry, so a filter
// that runs across the antimeridian means the region it encloses.
// It returns the exact filter, the store's prefilter boxes and the filter
// the store may evaluate itself (store.Query.Spatial).
func spatialFilter(sf *datasetsv1.SpatialFilter) (*geo.Filter, []orb.Bound, *store.SpatialFilter, error) {
	var mode geo.Mode
	switch sf.GetMode() {
	case datasetsv1.SpatialFilterMode_SPATIAL_FILTER_MODE_UNSPECIFIED, datasetsv1.SpatialFilterMode_SPATIAL_FILTER_MODE_INTERSECTS:
		mode = geo.Intersects
	case datasetsv1.SpatialFilterMode_SPATIAL_FILTER_MODE_CONTAINS:
		mode = geo.Contains
	default:
		return nil, nil, nil, invalid("spatial_extent.mode: unknown value %d", sf.GetMode())
	}
	var cs geo.CoordSystem
	switch sf.GetCoordinateSystem() {
	case datasetsv1.SpatialCoordinateSystem_SPATIAL_COORDINATE_SYSTEM_UNSPECIFIED, datasetsv1.SpatialCoordinateSystem_SPATIAL_COORDINATE_SYSTEM_CARTESIAN:
		cs = geo.Cartesian
	case datasetsv1.SpatialCoordinateSystem_SPATIAL_COORDINATE_SYSTEM_SPHERICAL:
		cs = geo.Spherical
	default:
		return nil, nil, nil, invalid("spatial_extent.coordinate_system: unknown value %d", sf.GetCoordinateSystem())
	}
	wkb := sf.GetGeometry().GetWkb()
	if len(wkb) == 0 {
		return nil, nil, nil, invalid("spatial_extent.geometry is required (WKB or EWKB)")
	}
	// A 3-D area filters by its footprint: filters are 2-D, and nothing
	// stored is changed.
	if flat, changed, err := geo.Force2D(wkb); err == nil && changed {
		wkb = flat
	}
	g, err := geo.ParseWKB(wkb)
	if err != nil {
		return nil, nil, nil, invalid("spatial_extent.geometry: %v", err)
	}
	f, boxes, err := newFilter(g, mode, cs)
	if err != nil {
		return nil, nil, nil, invalid("spatial_extent.geometry: %v", err)
	}
	return f, boxes, storeFilter(g, mode, cs), nil
}

// newFilter is geo.NewFilter and its prefilter boxes, with a panic in geo
// (or s2 below it) made an error: a query must not take the server down.
func newFilter(g orb.Geometry, mode geo.Mode, cs geo.CoordSystem) (f *geo.Filter, boxes []orb.Bound, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, boxes, err = nil, nil, fmt.Errorf("cannot be used as a %v filter: %v", cs, r)
		}
	}()
	if f, err = geo.NewFilter(g, mode, cs); err != nil {
		return nil, nil, err
	}
	return f, f.Prefilter(), nil
}

// storeFilter is the exact test for the store: the filter fixed as
// geo.NewFilter fixes it, as WKB; nil if that fails (the store then
// prefilters only, which is always correct).
func storeFilter(g orb.Geometry, mode geo.Mode, cs geo.CoordSystem) *store.SpatialFilter {
	var opts []geo.FixOption
	if cs == geo.Cartesian {
		opts = append(opts, geo.Flat())
	}
	fixed, _, err := geo.Fix(g, opts...)
	if err != nil {
		return nil
	}
	wkb, err := geo.MarshalWKB(fixed)
	if err != nil {
		return nil
	}
	return &store.SpatialFilter{Geometry: wkb, Contains: mode == geo.Contains, Spherical: cs == geo.Spherical}
}

// querySpatial returns up to want datapoints of q that match f, in ID
// order. The store returns candidates page by page; a page may hold no
// match at all, so it reads on after the last candidate until want match or
// the range ends.
func (s *Service) querySpatial(ctx context.Context, q store.Query, f *geo.Filter, want int) ([]store.Datapoint, error) {
	if len(q.Boxes) == 0 {
		return nil, nil
	}
	q.SkipData = false // the exact test needs the geometry
	batch := max(want, minCandidates)
	var out []store.Datapoint
	for {
		q.Limit = batch
		cands, err := s.st.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, c := range cands {
			ok := c.SpatialMatch
			if !ok {
				if ok, err = matches(f, c.Data); err != nil {
					return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("datapoint %s: %w", c.ID, err))
				}
			}
			if ok {
				out = append(out, c)
				if len(out) == want {
					return out, nil
				}
			}
		}
		if len(cands) < batch {
			return out, nil
		}
		next, ok := incr(cands[len(cands)-1].ID)
		if !ok || less(q.To, next) {
			return out, nil
		}
		q.From = next
		batch = min(2*batch, max(want, maxCandidates))
	}
}

// matches tests a stored datapoint's geometry; one without geometry never
// matches.
func matches(f *geo.Filter, data []byte) (ok bool, err error) {
	wkb, err := geometryWKB(data)
	if err != nil || wkb == nil {
		return false, err
	}
	g, err := geo.ParseWKB(wkb)
	if err != nil {
		return false, err
	}
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("spatial test failed: %v", r)
		}
	}()
	return f.Match(g), nil
}

var errTemporalSpatial = errors.New("spatial_extent: the dataset is temporal; only spatiotemporal datasets have geometries to filter")
