package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Exact spatial filters (PostGIS mode). Since schema version 3 each
// datapoint with geometry keeps it in datapoints.shape, a PostGIS geometry
// (SRID 4326) under a GiST index, and Query tests cartesian filters on it
// exactly: ST_Intersects(shape, filter) for intersects, ST_Covers(filter,
// shape) for contains (boundary included), the semantics of geo.Match in
// the lon/lat plane. Rows written before version 3 have no shape (a
// datapoint is never rewritten: re-ingesting one is a no-op); for them the
// bounds prefilter applies and the caller tests them (SpatialMatch unset).
//
// Spherical filters stay a prefilter here (the caller tests candidates with
// geo.Match). PostGIS geography (great-circle edges, like the API's
// spherical) was tried and disagrees with geo.Match: geo reads ring
// orientation on the sphere (s2), so a clockwise ring stored as sent is the
// complement of its small side, which geography cannot express (it ignores
// orientation); and for contains geo joins a filter's pieces cut at the
// antimeridian, while geography's ST_Covers does not cover a candidate that
// spans two pieces. In a randomized comparison (TestExactSpatialMatchesGeo)
// geography intersects agreed on counter-clockwise data only, and contains
// missed candidates spanning a cut filter.

// geometryField is the number of the geometry field of canonical datapoint
// bytes (schema.NumberGeometry; a datasets.v1.Geometry whose field 1 is the
// WKB).
const geometryField = 4

// shapeWKB returns the WKB of the geometry field of canonical datapoint
// bytes, nil when there is none.
func shapeWKB(data []byte) ([]byte, error) {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		data = data[n:]
		if num > geometryField {
			return nil, nil // canonical bytes are ordered by field number
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		if num != geometryField {
			data = data[m:]
			continue
		}
		if typ != protowire.BytesType {
			return nil, fmt.Errorf("field %d has wire type %d, not a message", num, typ)
		}
		msg, _ := protowire.ConsumeBytes(data)
		var wkb []byte
		for len(msg) > 0 {
			inum, ityp, k := protowire.ConsumeTag(msg)
			if k < 0 {
				return nil, protowire.ParseError(k)
			}
			msg = msg[k:]
			k = protowire.ConsumeFieldValue(inum, ityp, msg)
			if k < 0 {
				return nil, protowire.ParseError(k)
			}
			if inum == 1 && ityp == protowire.BytesType {
				wkb, _ = protowire.ConsumeBytes(msg)
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

// appendShapeEWKB appends 2-D WKB or EWKB (as the service validated it on
// ingest, or marshalled a filter) as EWKB with SRID 4326: the SRID goes
// into the outer header (replacing one that is there); nested geometries
// carry none.
func appendShapeEWKB(buf, wkb []byte) ([]byte, error) {
	if len(wkb) < 5 {
		return buf, errors.New("wkb: too short")
	}
	var order interface {
		binary.ByteOrder
		binary.AppendByteOrder
	} = binary.LittleEndian
	switch wkb[0] {
	case 0:
		order = binary.BigEndian
	case 1:
	default:
		return buf, fmt.Errorf("wkb: bad byte order %d", wkb[0])
	}
	typ := order.Uint32(wkb[1:5])
	rest := wkb[5:]
	if typ&ewkbSRIDFlag != 0 {
		if len(rest) < 4 {
			return buf, errors.New("wkb: too short")
		}
		rest = rest[4:]
	}
	buf = append(buf, wkb[0])
	buf = order.AppendUint32(buf, typ|ewkbSRIDFlag)
	buf = order.AppendUint32(buf, srid)
	return append(buf, rest...), nil
}

// shapeEWKB is the EWKB of a datapoint's geometry for the shape column,
// nil without one (or without bounds: the service sets them exactly when
// the datapoint has a valid geometry).
func shapeEWKB(buf []byte, data []byte) ([]byte, bool) {
	wkb, err := shapeWKB(data)
	if err != nil || wkb == nil {
		return buf, false
	}
	out, err := appendShapeEWKB(buf, wkb)
	if err != nil {
		return buf, false
	}
	return out, true
}
