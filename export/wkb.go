package export

import (
	"encoding/binary"
	"errors"
	"math"
)

// wkbInfo scans 2-D WKB (ISO or EWKB, either byte order) for its geometry
// type and the bounds of its coordinates, without building a geometry.
type wkbInfo struct {
	typ                    uint32 // 1 Point ... 7 GeometryCollection
	minX, minY, maxX, maxY float64
	points                 int
}

var errWKB = errors.New("malformed WKB")

var wkbTypeNames = [...]string{1: "Point", 2: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}

func scanWKB(b []byte) (wkbInfo, error) {
	info := wkbInfo{minX: math.Inf(1), minY: math.Inf(1), maxX: math.Inf(-1), maxY: math.Inf(-1)}
	rest, typ, err := info.geom(b, 0)
	if err != nil {
		return info, err
	}
	if len(rest) != 0 {
		return info, errWKB
	}
	info.typ = typ
	return info, nil
}

func (in *wkbInfo) geom(b []byte, depth int) ([]byte, uint32, error) {
	if len(b) < 5 || depth > 32 {
		return nil, 0, errWKB
	}
	var o binary.ByteOrder = binary.LittleEndian
	switch b[0] {
	case 0:
		o = binary.BigEndian
	case 1:
	default:
		return nil, 0, errWKB
	}
	raw := o.Uint32(b[1:5])
	b = b[5:]
	if raw&0x20000000 != 0 { // EWKB SRID
		if len(b) < 4 {
			return nil, 0, errWKB
		}
		b = b[4:]
	}
	typ := raw & 0xffff
	if raw&0xc0000000 != 0 || typ < 1 || typ > 7 {
		return nil, 0, errWKB
	}
	count := func() (int, error) {
		if len(b) < 4 {
			return 0, errWKB
		}
		n := int(o.Uint32(b))
		b = b[4:]
		if n < 0 || n > len(b) {
			return 0, errWKB
		}
		return n, nil
	}
	points := func(n int) error {
		if len(b) < 16*n {
			return errWKB
		}
		for i := 0; i < n; i++ {
			x := math.Float64frombits(o.Uint64(b[16*i:]))
			y := math.Float64frombits(o.Uint64(b[16*i+8:]))
			if math.IsNaN(x) || math.IsNaN(y) { // POINT EMPTY
				continue
			}
			in.minX, in.maxX = min(in.minX, x), max(in.maxX, x)
			in.minY, in.maxY = min(in.minY, y), max(in.maxY, y)
			in.points++
		}
		b = b[16*n:]
		return nil
	}
	switch typ {
	case 1:
		if err := points(1); err != nil {
			return nil, 0, err
		}
	case 2:
		n, err := count()
		if err == nil {
			err = points(n)
		}
		if err != nil {
			return nil, 0, err
		}
	case 3:
		rings, err := count()
		if err != nil {
			return nil, 0, err
		}
		for range rings {
			n, err := count()
			if err == nil {
				err = points(n)
			}
			if err != nil {
				return nil, 0, err
			}
		}
	default:
		n, err := count()
		if err != nil {
			return nil, 0, err
		}
		for range n {
			var err error
			if b, _, err = in.geom(b, depth+1); err != nil {
				return nil, 0, err
			}
		}
	}
	return b, typ, nil
}
