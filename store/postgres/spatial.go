package postgres

import (
	"encoding/binary"
	"math"

	"github.com/paulmach/orb"
)

// srid of the stored geometries: lon/lat degrees.
const srid = 4326

// normBound orders a box's corners.
func normBound(b orb.Bound) orb.Bound {
	if b.Min[0] > b.Max[0] {
		b.Min[0], b.Max[0] = b.Max[0], b.Min[0]
	}
	if b.Min[1] > b.Max[1] {
		b.Min[1], b.Max[1] = b.Max[1], b.Min[1]
	}
	return b
}

// unionBounds is the box around bs (at least one).
func unionBounds(bs []orb.Bound) orb.Bound {
	u := normBound(bs[0])
	for _, b := range bs[1:] {
		u = u.Union(normBound(b))
	}
	return u
}

// EWKB geometry types (little endian) and the flag that says an SRID
// follows the type.
const (
	wkbPoint              = 1
	wkbLineString         = 2
	wkbPolygon            = 3
	wkbMultiPolygon       = 6
	wkbGeometryCollection = 7
	ewkbSRIDFlag          = 0x20000000
)

// appendEWKB appends boxes as one PostGIS geometry with SRID 4326: a box is
// a polygon, or a line or point when it is flat, so that every geometry is
// valid; several boxes make a multipolygon (or a collection when some are
// flat). Boxes split at the antimeridian stay apart, so ST_Intersects tests
// each of them, not the box around both.
func appendEWKB(buf []byte, boxes []orb.Bound) []byte {
	if len(boxes) == 1 {
		return appendBoxWKB(buf, normBound(boxes[0]), true)
	}
	typ := uint32(wkbMultiPolygon)
	for _, b := range boxes {
		if boxType(normBound(b)) != wkbPolygon {
			typ = wkbGeometryCollection
		}
	}
	buf = append(buf, 1)
	buf = binary.LittleEndian.AppendUint32(buf, typ|ewkbSRIDFlag)
	buf = binary.LittleEndian.AppendUint32(buf, srid)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(boxes)))
	for _, b := range boxes {
		buf = appendBoxWKB(buf, normBound(b), false)
	}
	return buf
}

func boxType(b orb.Bound) uint32 {
	switch {
	case b.Min[0] == b.Max[0] && b.Min[1] == b.Max[1]:
		return wkbPoint
	case b.Min[0] == b.Max[0] || b.Min[1] == b.Max[1]:
		return wkbLineString
	}
	return wkbPolygon
}

func appendBoxWKB(buf []byte, b orb.Bound, withSRID bool) []byte {
	typ := boxType(b)
	buf = append(buf, 1)
	if withSRID {
		buf = binary.LittleEndian.AppendUint32(buf, typ|ewkbSRIDFlag)
		buf = binary.LittleEndian.AppendUint32(buf, srid)
	} else {
		buf = binary.LittleEndian.AppendUint32(buf, typ)
	}
	pt := func(buf []byte, x, y float64) []byte {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(x))
		return binary.LittleEndian.AppendUint64(buf, math.Float64bits(y))
	}
	switch typ {
	case wkbPoint:
		return pt(buf, b.Min[0], b.Min[1])
	case wkbLineString:
		buf = binary.LittleEndian.AppendUint32(buf, 2)
		buf = pt(buf, b.Min[0], b.Min[1])
		return pt(buf, b.Max[0], b.Max[1])
	}
	buf = binary.LittleEndian.AppendUint32(buf, 1) // rings
	buf = binary.LittleEndian.AppendUint32(buf, 5) // points
	buf = pt(buf, b.Min[0], b.Min[1])
	buf = pt(buf, b.Max[0], b.Min[1])
	buf = pt(buf, b.Max[0], b.Max[1])
	buf = pt(buf, b.Min[0], b.Max[1])
	return pt(buf, b.Min[0], b.Min[1])
}

// appendBoxBinary appends a core box in PostgreSQL's binary format: the
// upper right corner, then the lower left.
func appendBoxBinary(buf []byte, b orb.Bound) []byte {
	b = normBound(b)
	for _, v := range []float64{b.Max[0], b.Max[1], b.Min[0], b.Min[1]} {
		buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(v))
	}
	return buf
}
